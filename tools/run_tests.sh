#!/usr/bin/env bash
# Set up .venv when needed (tools/setup_env.sh), check the code style with ruff,
# then run crrg's test suite. Extra arguments go to pytest, e.g.
#   bash tools/run_tests.sh tests/test_datasets -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${ROOT}/tools/setup_env.sh"
cd "${ROOT}"
.venv/bin/ruff check crrg tools tests benchmarks configs projects
exec .venv/bin/python -m pytest "${@:-tests}"
