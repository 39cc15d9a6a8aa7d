#!/usr/bin/env bash
# Set up .venv when needed (tools/setup_env.sh), then run crrg's test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/test_datasets -x`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${ROOT}/tools/setup_env.sh"
cd "${ROOT}"
exec .venv/bin/python -m pytest "${@:-tests}"
