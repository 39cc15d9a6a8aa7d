#!/usr/bin/env bash
# Distributed training through torch.distributed and mmengine's launcher:
#   bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]
# On CPU the process group uses gloo (configs' env_cfg.dist_cfg).
set -euo pipefail
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
PYTHONPATH="${ROOT}:${PYTHONPATH:-}" \
"${PY}" -m torch.distributed.run \
    --nnodes="${NNODES}" \
    --node_rank="${NODE_RANK}" \
    --master_addr="${MASTER_ADDR}" \
    --nproc_per_node="${NPROC}" \
    --master_port="${PORT}" \
    "${ROOT}/tools/train.py" \
    "${CONFIG}" \
    --launcher pytorch "${@:3}"
