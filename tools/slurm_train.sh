#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as mmdet's slurm_train.sh:
#   [GPUS=16 GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# The variables (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PORT, PYTHON):
# see tools/launch_utils.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_utils.sh"
srun_tool "$1" "$2" train.py "$3" --work-dir="$4" --launcher=slurm "${@:5}"
