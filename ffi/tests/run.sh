#!/usr/bin/env bash
# run.sh: the phone library's tests through its real boundaries, from a clean checkout. Builds liblinli_ffi and the
# uniffi-bindgen binary, generates the Python bindings from the compiled library, runs the Python suite
# (ffi/tests/python) against it, then compiles the C program (ffi/tests/c) against the cbindgen header and runs it.
# Exits non-zero on any failure. Usage: bash ffi/tests/run.sh
#
# Encrypted run: `LINLI_FFI_SQLCIPHER=1 bash ffi/tests/run.sh` builds the library with `--features sqlcipher` on
# its own, in its own target dir (`target/sqlcipher`: features unify across crates built together, and a separate
# dir leaves the plain build untouched), and runs the same suites with every replica encrypted under a random key
# (LINLI_REPLICA_KEY_HEX for Python, the C program's second argument).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
if [ "${LINLI_FFI_SQLCIPHER:-0}" = 1 ]; then
    echo "== ffi: build liblinli_ffi with SQLCipher (target/sqlcipher) and uniffi-bindgen"
    cargo build --locked -p linli-uniffi-bindgen
    CARGO_TARGET_DIR="$TARGET_DIR/sqlcipher" cargo build --locked -p linli-ffi --features sqlcipher \
        --message-format=json-render-diagnostics >"$WORK/build.jsonl"
    LIB_DIR="$TARGET_DIR/sqlcipher/debug"
    KEY_HEX=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
else
    echo "== ffi: build liblinli_ffi and uniffi-bindgen"
    cargo build --locked -p linli-ffi -p linli-uniffi-bindgen --message-format=json-render-diagnostics >"$WORK/build.jsonl"
    LIB_DIR="$TARGET_DIR/debug"
    KEY_HEX=""
fi
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"
LIB="$LIB_DIR/liblinli_ffi.so"
# The header is written by build.rs to the build script's OUT_DIR; cargo's JSON output says where that is.
HEADER_DIR=$(python3 - "$WORK/build.jsonl" <<'PY'
import json, sys
out = None
for line in open(sys.argv[1]):
    msg = json.loads(line)
    if msg.get("reason") == "build-script-executed" and "#linli-ffi@" in msg.get("package_id", ""):
        out = msg["out_dir"]
if not out:
    sys.exit("the linli-ffi build script did not run")
print(out)
PY
)
test -f "$HEADER_DIR/linli_ffi.h"

echo "== ffi: generate Python bindings"
mkdir -p "$WORK/bindings"
"$BINDGEN" generate --library "$LIB" --language python --out-dir "$WORK/bindings"
cp "$LIB" "$WORK/bindings/"

echo "== ffi: Python tests"
if ! python3 -c 'import pytest' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check pytest
fi
LINLI_BINDINGS_DIR="$WORK/bindings" LINLI_REPLICA_KEY_HEX="$KEY_HEX" python3 -m pytest -q -p no:cacheprovider "$ROOT/ffi/tests/python"

echo "== ffi: C test"
cc -std=c11 -Wall -Wextra -Werror -I "$HEADER_DIR" "$ROOT/ffi/tests/c/record_visit.c" \
    -L "$LIB_DIR" -llinli_ffi -o "$WORK/record_visit"
LD_LIBRARY_PATH="$LIB_DIR" "$WORK/record_visit" "$WORK/c-replica.db" ${KEY_HEX:+"$KEY_HEX"}
