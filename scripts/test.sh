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
# The CRI's api.proto, from the same references, is what the Kubernetes tests compile their client from.
cri_proto="$PWD/../shared/reference/cri-api/api.proto"
[ -f "$cri_proto" ] && export LADING_CRI_API_PROTO="${LADING_CRI_API_PROTO:-$cri_proto}"
exec .venv/bin/pytest "$@"
