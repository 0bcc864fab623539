#!/usr/bin/env bash
# Rebuilds the rest-fixture binary, runs every rest_api case (or the ones named) with REAL
# dlt 1.31 against it and PostgreSQL, and rewrites crates/source-rest/tests/cases/*.expected
# and *.trace.json. See README.md beside this file.
#
#   crates/source-rest/tests/dlt/regenerate.sh              # every case
#   crates/source-rest/tests/dlt/regenerate.sh merge auth_basic
#
# Environment: DLT_PYTHON (a python with dlt[postgres]==1.31.0; default: python3),
# DLT_REF_PG (default postgresql://postgres:x@127.0.0.1:5432/postgres), CARGO_TARGET_DIR.
# Extra options go to run_dlt.py (e.g. --out-dir /tmp/check to compare without rewriting).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
python="${DLT_PYTHON:-python3}"
target="${CARGO_TARGET_DIR:-$root/target}"

(cd "$root" && cargo build -p source-rest --bin rest-fixture)
exec "$python" "$here/run_dlt.py" --fixture-bin "$target/debug/rest-fixture" "$@"
