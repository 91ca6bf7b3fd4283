# wire.py: builds sync answers in the wire format of linli-sync-core (ops v1, SyncResponse, Snapshot, problem
# documents) so that the tests feed the replica exactly what a server sends. Nothing here imitates our own code:
# it writes the documented JSON by hand.
import json
import os
import time
import uuid

NIL = "00000000-0000-0000-0000-000000000000"
MIN = 60_000
# The replica key of an encrypted run (`LINLI_FFI_SQLCIPHER=1 bash ffi/tests/run.sh` builds the library with
# SQLCipher and sets it): every replica of the suite is then opened with it. None in the plain run.
KEY = bytes.fromhex(os.environ["LINLI_REPLICA_KEY_HEX"]) if os.environ.get("LINLI_REPLICA_KEY_HEX") else None


def now_ms():
    return int(time.time() * 1000)


class World:
    """The ids of one small community: a grid cell with one elderly household, a grid worker, a micro-butler,
    and the admin who set it up."""

    def __init__(self):
        self.grid = str(uuid.uuid4())
        self.household = str(uuid.uuid4())
        self.worker = str(uuid.uuid4())
        self.butler = str(uuid.uuid4())
        self.admin = str(uuid.uuid4())
        self.admin_device = str(uuid.uuid4())
        self.t = now_ms() - 30 * MIN
        self.logical = 0

    def op(self, kind, entity, body, replica=None, author=None):
        self.logical += 1
        return {
            "v": 1,
            "id": str(uuid.uuid4()),
            "replica": replica or self.admin_device,
            "author": author or self.admin,
            "time": {"wall_ms": self.t, "logical": self.logical},
            "kind": kind,
            "entity": entity,
            "body": body,
        }

    def setup_ops(self):
        g = self.grid
        return [
            self.op("grid.create", g, {"name": "第三网格", "community": "幸福里社区"}),
            self.op("grid.add_household", g, {"household": self.household, "building": "3", "unit": "2",
                                               "room": "501", "elderly_alone": True}),
            self.op("grid.add_member", g, {"user": self.worker, "role": "worker"}),
            self.op("grid.add_member", g, {"user": self.butler, "role": "butler"}),
            self.op("grid.assign_visit", g, {"household": self.household, "butler": self.butler}),
        ]

    def grant(self, volunteer, to_device, points, seq=1):
        """The server hands `points` of spending rights on `volunteer`'s card to `to_device`."""
        return self.op("card.transfer", volunteer, {"to": to_device, "points": points, "seq": seq},
                       replica=NIL, author=self.admin)


def response(ops, acked=(), cursor=1, has_more=False):
    return json.dumps({
        "protocol": 1,
        "acked": list(acked),
        "ops": ops,
        "cursor": cursor,
        "has_more": has_more,
        "server_time": {"wall_ms": now_ms(), "logical": 0},
    }).encode()


def problem(code, status):
    return json.dumps({"type": f"https://linli.invalid/problems/{code}", "title": code, "status": status,
                       "code": code}).encode()


def request_ops(request_bytes):
    """The ops of a prepared sync request."""
    return json.loads(request_bytes)["ops"]


RULES = {
    "drift": {"max_ahead_ms": 600_000},
    "card": {"points_per_hour": 10},
    "rule52022": {"on_site_ms": 300_000, "small_solve_ms": 1_200_000, "complex_plan_ms": 172_800_000,
                  "complex_answer_ms": 172_800_000},
    "max_text_chars": 4000,
}


def empty_snapshot(cursor):
    """A server snapshot of a scope with nothing in it yet (the deployment's rules only)."""
    return json.dumps({
        "protocol": 1,
        "cursor": cursor,
        "state": {"rules": RULES, "tickets": {}, "grids": {}, "entries": {}, "cards": {}},
        "server_time": {"wall_ms": now_ms(), "logical": 0},
    }).encode()
