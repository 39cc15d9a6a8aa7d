#!/usr/bin/env bash
# Distributed testing through torch.distributed and mmengine's launcher:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [test.py args...]
# One process per GPU (NCCL); on CPU the process group uses gloo. For several
# nodes run it on each with NNODES, NODE_RANK and MASTER_ADDR set (docs/gpu.md).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
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
    "${ROOT}/tools/test.py" \
    "${CONFIG}" \
    "${CHECKPOINT}" \
    --launcher pytorch "${@:4}"
