#!/usr/bin/env bash
# Sourced by dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh:
# the one place that starts tools/train.py or tools/test.py in several
# processes, with the repository first on PYTHONPATH and ${PYTHON:-python}.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"

# torchrun_tool TOOL NUM_PROCESSES ARGS...: NUM_PROCESSES processes of
# tools/TOOL on this node through torch.distributed.run (ARGS name
# --launcher pytorch). Several nodes: NNODES, NODE_RANK and MASTER_ADDR on
# each; PORT sets the rendezvous port.
torchrun_tool() {
    PYTHONPATH="${ROOT}:${PYTHONPATH:-}" \
    "${PY}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$2" \
        --master_port="${PORT:-29500}" \
        "${ROOT}/tools/$1" "${@:3}"
}

# srun_tool PARTITION JOB_NAME TOOL ARGS...: tools/TOOL on a Slurm cluster,
# one task per GPU (ARGS name --launcher=slurm; mmengine then reads rank,
# world size and the first node's address from SLURM_PROCID, SLURM_NTASKS
# and SLURM_NODELIST). GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK
# (5), SRUN_ARGS (extra srun options, e.g. SRUN_ARGS="--time=24:00:00") and
# PORT set the job.
srun_tool() {
    [[ -z "${PORT:-}" ]] || export MASTER_PORT="${PORT}"
    # shellcheck disable=SC2086  # SRUN_ARGS holds several options
    PYTHONPATH="${ROOT}:${PYTHONPATH:-}" \
    srun -p "$1" \
        --job-name="$2" \
        --gres=gpu:"${GPUS_PER_NODE:-8}" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PY}" -u "${ROOT}/tools/$3" "${@:4}"
}
