# test_encryption.py: encryption at rest through the generated bindings. In the encrypted run
# (LINLI_FFI_SQLCIPHER=1 bash ffi/tests/run.sh) the replica opened with the run's key keeps none of the written
# names in its bytes, a wrong or missing key raises ReplicaError.WrongKey and leaves the file as it was, and
# rekey moves it to a new key. In the plain run, a key is refused as Invalid, never a silent plain file.
import os
import uuid

import pytest

import linli_ffi as L
import wire

NOTE = "张桂兰头晕"


def identity(world):
    return L.DeviceIdentity(device_id=world.admin_device, user_id=world.butler, role=L.Role.VOLUNTEER)


def populate(world, path, key):
    replica = L.Replica.open(path, identity(world), key=key)
    replica.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    replica.record_visit(L.VisitInput(grid_id=world.grid, household_id=world.household, seen=True, health=None,
                                      needs=[], notes=NOTE))
    return replica


def file_bytes(path):
    out = b""
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as f:
                out += f.read()
    return out


CELL = "第三网格"


def test_the_run_key_hides_what_was_written(world, tmp_db):
    path = tmp_db("r.db")
    replica = populate(world, path, wire.KEY)
    # The note is in the WAL while the replica is open, so both files are searched.
    readable = [name.encode() in file_bytes(path) for name in (NOTE, CELL)]
    replica.close()
    plain = wire.KEY is None
    assert readable == [plain, plain], "the names are readable exactly when the run is plain"
    assert (NOTE.encode() in file_bytes(path)) == plain


def test_a_key_is_refused_by_a_plain_build_and_checked_by_an_encrypted_one(world, tmp_db):
    if wire.KEY is None:
        # Never a silent plain file in place of the encrypted one the app asked for.
        with pytest.raises(L.ReplicaError.Invalid) as e:
            L.Replica.open(tmp_db("k.db"), identity(world), key=bytes(32))
        assert "sqlcipher" in str(e.value)
        return
    path = tmp_db("w.db")
    populate(world, path, wire.KEY).close()
    before = file_bytes(path)
    other = bytes(b ^ 0xFF for b in wire.KEY)
    with pytest.raises(L.ReplicaError.WrongKey):
        L.Replica.open(path, identity(world), key=other)
    with pytest.raises(L.ReplicaError.WrongKey):
        L.Replica.open(path, identity(world))
    assert file_bytes(path) == before, "a refused open changes nothing"
    with pytest.raises(L.ReplicaError.Invalid):
        L.Replica.open(path, identity(world), key=b"short")
    replica = L.Replica.open(path, identity(world), key=wire.KEY)
    assert replica.sync_status().unsynced_ops == 1


def test_rekey_then_only_the_new_key_opens(world, tmp_db):
    path = tmp_db("k.db")
    replica = populate(world, path, wire.KEY)
    new = uuid.uuid4().bytes + uuid.uuid4().bytes
    if wire.KEY is None:
        # A plain replica has no key to change (and a plain build no encryption).
        with pytest.raises(L.ReplicaError.Invalid):
            replica.rekey(new)
        return
    replica.rekey(new)
    replica.close()
    with pytest.raises(L.ReplicaError.WrongKey):
        L.Replica.open(path, identity(world), key=wire.KEY)
    reopened = L.Replica.open(path, identity(world), key=new)
    assert reopened.households_to_visit(0)[0].visited_today
    assert CELL.encode() not in file_bytes(path)
