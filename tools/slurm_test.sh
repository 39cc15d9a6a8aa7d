#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU, as mmdet's slurm_test.sh:
#   [GPUS=8 GPUS_PER_NODE=8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# See tools/slurm_train.sh for the variables (GPUS, GPUS_PER_NODE,
# CPUS_PER_TASK, SRUN_ARGS, PORT, PYTHON).
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
[[ -z "${PORT:-}" ]] || export MASTER_PORT="${PORT}"
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="${ROOT}:${PYTHONPATH:-}" \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "${PY}" -u "${ROOT}/tools/test.py" "${CONFIG}" "${CHECKPOINT}" \
    --launcher=slurm "${@:5}"
