#!/usr/bin/env bash
# Create (or complete) the virtual environment at .venv with crrg's pinned stack.
#
# Idempotent: a finished environment is detected by a stamp file and left alone.
# mmcv 2.1.0 (required by mmdet 3.3) has no wheel for this Python/torch: it is built
# once from its sdist with ops (C++20, because torch 2.14 headers need it) and the
# wheel is cached in ${CRRG_WHEEL_CACHE:-~/.cache/crrg/wheels} for later set-ups.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ROOT}/.venv"
PY="${VENV}/bin/python"
CACHE="${CRRG_WHEEL_CACHE:-${HOME}/.cache/crrg/wheels}"
STAMP="${VENV}/.crrg-setup-done"
REQ_HASH="$(cat "${ROOT}"/requirements/*.txt "${ROOT}/tools/setup_env.sh" | sha256sum | cut -c1-16)"

log() { echo "[setup_env] $*"; }

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${REQ_HASH}" ]]; then
  exit 0
fi

if [[ ! -x "${PY}" ]]; then
  log "creating virtual environment at .venv"
  python3 -m venv "${VENV}"
fi
# pip warns about every missing page of a local mirror index; keep the rest of its output.
quiet_pip() { "${PY}" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
pip_install() { quiet_pip install --quiet --disable-pip-version-check "$@"; }

log "installing build requirements (torch, torchvision, setuptools)"
pip_install --upgrade pip
pip_install -r "${ROOT}/requirements/build.txt"

if ! "${PY}" -c "import mmcv, mmcv.ops" >/dev/null 2>&1; then
  mkdir -p "${CACHE}"
  WHEEL="$(ls "${CACHE}"/mmcv-2.1.0-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "${WHEEL}" ]]; then
    log "building mmcv 2.1.0 with ops from its sdist (about 10 minutes on 2 cores, done once per machine)"
    WORK="$(mktemp -d)"
    trap 'rm -rf "${WORK}"' EXIT
    quiet_pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
      mmcv==2.1.0 -d "${WORK}"
    tar -xzf "${WORK}"/mmcv-2.1.0.tar.gz -C "${WORK}"
    sed -i 's/-std=c++17/-std=c++20/g' "${WORK}/mmcv-2.1.0/setup.py"
    (cd "${WORK}/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
      quiet_pip wheel --quiet --no-build-isolation --no-deps . -w "${CACHE}")
    WHEEL="$(ls "${CACHE}"/mmcv-2.1.0-*.whl | head -n1)"
  else
    log "using cached mmcv wheel $(basename "${WHEEL}")"
  fi
  pip_install "${WHEEL}"
fi

log "installing runtime and test requirements"
pip_install -r "${ROOT}/requirements/runtime.txt" -r "${ROOT}/requirements/tests.txt" \
  -c <(printf 'torch==2.14.1\ntorchvision==0.29.1\nsetuptools==80.9.0\n')
pip_install --no-deps -e "${ROOT}"

"${PY}" -c "import mmcv.ops, mmdet, mmpretrain, mmengine, transformers, crrg" \
  || { log "the environment does not import; see the messages above"; exit 1; }
echo "${REQ_HASH}" > "${STAMP}"
log "environment ready at .venv"
