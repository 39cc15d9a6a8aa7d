#!/usr/bin/env bash
# Distributed training through torch.distributed and mmengine's launcher:
#   bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args...]
# On CPU the process group uses gloo (configs' env_cfg.dist_cfg). NNODES,
# NODE_RANK, MASTER_ADDR, PORT and PYTHON: see tools/launch_utils.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_utils.sh"
torchrun_tool train.py "$2" "$1" --launcher pytorch "${@:3}"
