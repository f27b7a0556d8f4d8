#!/usr/bin/env bash
# The whole test suite: lint, types, then the real-container tests (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
.venv/bin/mypy
# The runtime-spec JSON schemas, where a copy sits beside the checkout, validate `lading features`.
schema_dir="$PWD/../shared/reference/runtime-spec/schema"
[ -d "$schema_dir" ] && export OCI_RUNTIME_SPEC_SCHEMA_DIR="${OCI_RUNTIME_SPEC_SCHEMA_DIR:-$schema_dir}"
exec .venv/bin/pytest "$@"
