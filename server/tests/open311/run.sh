#!/usr/bin/env bash
# A third-party Open311 GeoReport v2 client against the real `linli` binary: `georeport` (PyPI, pinned below) reads
# discovery, the services, a definition, the request list and one request, in JSON and XML; the request it reads is
# posted by the test in the form any GeoReport client posts (no released `georeport` has a post method, and the two
# PyPI clients that have one, `three` 0.8.0 and `open311` 1.1, are Python 2 only). The venv is made once, in
# target/georeport-venv. Usage: server/tests/open311/run.sh [path to the linli binary, default target/debug/linli].
set -euo pipefail
cd "$(dirname "$0")/../../.."

VERSION=0.3.1
BIN=${1:-target/debug/linli}
VENV=${GEOREPORT_VENV:-target/georeport-venv}

if ! "$VENV/bin/python" -c "import georeport, pytest, sys; sys.exit(georeport.__version__ != '$VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "georeport==$VERSION" pytest
fi

DATA=$(mktemp -d)
cleanup() {
    if [[ -n "${PID:-}" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

PASSWORD=open311-admin-password
LINLI_DATA_DIR="$DATA" LINLI_BIND=127.0.0.1:0 LINLI_ADMIN_PASSWORD="$PASSWORD" LINLI_LOG=warn \
    "$BIN" serve >"$DATA/stdout" 2>"$DATA/log" &
PID=$!
for _ in $(seq 100); do
    grep -q "listening on" "$DATA/stdout" 2>/dev/null && break
    sleep 0.1
done
BASE=$(sed -n 's/^linli listening on //p' "$DATA/stdout")
[[ -n "$BASE" ]] || { echo "the server did not start:"; cat "$DATA/log"; exit 1; }

LINLI_BASE="$BASE" LINLI_ADMIN_PASSWORD="$PASSWORD" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider server/tests/open311/test_georeport.py
