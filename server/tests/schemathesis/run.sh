#!/usr/bin/env bash
# Schemathesis (PyPI, pinned below) against `/openapi.json` of the real `linli` binary with an admin token: every
# operation of the document, with generated valid and invalid requests, checked for `not_a_server_error`,
# `status_code_conformance`, `content_type_conformance` and `response_schema_conformance`. Bounded: at most
# SCHEMATHESIS_EXAMPLES examples per operation (default 40), and the whole run at most SCHEMATHESIS_SECONDS
# (default 150). The venv is made once, in target/schemathesis-venv. Usage: server/tests/schemathesis/run.sh
# [path to the linli binary, default target/debug/linli].
set -euo pipefail
cd "$(dirname "$0")/../../.."

VERSION=4.32.5
BIN=${1:-target/debug/linli}
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100}
SECONDS_MAX=${SCHEMATHESIS_SECONDS:-150}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

DATA=$(mktemp -d)
cleanup() {
    if [[ -n "${PID:-}" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$DATA"
}
trap cleanup EXIT

PASSWORD=schemathesis-admin-password
LINLI_DATA_DIR="$DATA" LINLI_BIND=127.0.0.1:0 LINLI_ADMIN_PASSWORD="$PASSWORD" LINLI_LOG=warn \
    "$BIN" serve >"$DATA/stdout" 2>"$DATA/log" &
PID=$!
for _ in $(seq 100); do
    grep -q "listening on" "$DATA/stdout" 2>/dev/null && break
    sleep 0.1
done
BASE=$(sed -n 's/^linli listening on //p' "$DATA/stdout")
[[ -n "$BASE" ]] || { echo "the server did not start:"; cat "$DATA/log"; exit 1; }

# The admin's own enrolled device: its token is accepted by every operation, `/v1/sync` included.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
LOGIN=$(curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}")
WEB=$(echo "$LOGIN" | json access_token)
ADMIN=$(echo "$LOGIN" | json user_id)
CODE=$(curl -sf "$BASE/v1/enrolment-codes" -H 'content-type: application/json' -H "Authorization: Bearer $WEB" \
    -d "{\"user_id\":\"$ADMIN\",\"label\":\"schemathesis\"}" | json code)
TOKEN=$(curl -sf "$BASE/v1/devices/enrol" -H 'content-type: application/json' -d "{\"code\":\"$CODE\"}" |
    json access_token)

# Run from the temporary directory: schemathesis keeps a cache of its findings in `.schemathesis/` of the working
# directory.
VENV=$(realpath "$VENV")
cd "$DATA"
timeout "$SECONDS_MAX" "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
    --url "$BASE" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" \
    --generation-deterministic \
    --request-timeout 10 \
    --no-color \
    "${@:2}"
