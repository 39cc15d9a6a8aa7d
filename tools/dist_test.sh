#!/usr/bin/env bash
# Distributed testing through torch.distributed and mmengine's launcher:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [test.py args...]
# One process per GPU (NCCL); on CPU the process group uses gloo. For several
# nodes run it on each with NNODES, NODE_RANK and MASTER_ADDR set (docs/gpu.md;
# the variables: tools/launch_utils.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_utils.sh"
torchrun_tool test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
