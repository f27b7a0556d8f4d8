#!/usr/bin/env bash
# The whole test suite: lint, types, then the real-container tests (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
.venv/bin/mypy
exec .venv/bin/pytest "$@"
