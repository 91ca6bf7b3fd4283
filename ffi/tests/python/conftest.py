# conftest.py: makes the generated Python bindings importable (LINLI_BINDINGS_DIR, set by ffi/tests/run.sh) and
# provides a fresh world of ids and a temp dir for each test.
import os
import sys
import uuid

import pytest

BINDINGS = os.environ.get("LINLI_BINDINGS_DIR")
if not BINDINGS:
    raise RuntimeError("LINLI_BINDINGS_DIR is not set: run ffi/tests/run.sh")
sys.path.insert(0, BINDINGS)
sys.path.insert(0, os.path.dirname(__file__))

import wire  # noqa: E402


@pytest.fixture
def world():
    return wire.World()


@pytest.fixture
def tmp_db(tmp_path):
    return lambda name: str(tmp_path / name)
