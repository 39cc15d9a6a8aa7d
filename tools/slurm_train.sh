#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as mmdet's slurm_train.sh:
#   [GPUS=16 GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# mmengine's slurm launcher reads rank, world size and the first node's address
# from Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST); PORT sets the port.
# Extra srun options go in SRUN_ARGS, e.g. SRUN_ARGS="--time=24:00:00".
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
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
    "${PY}" -u "${ROOT}/tools/train.py" "${CONFIG}" --work-dir="${WORK_DIR}" \
    --launcher=slurm "${@:5}"
