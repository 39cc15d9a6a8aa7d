#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU, as mmdet's slurm_test.sh:
#   [GPUS=8 GPUS_PER_NODE=8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# The variables (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PORT, PYTHON):
# see tools/launch_utils.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/launch_utils.sh"
srun_tool "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
