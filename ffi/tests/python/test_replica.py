# test_replica.py: the phone replica through its real boundary — the compiled cdylib, loaded by the Python bindings
# that uniffi-bindgen generated from it. Every offline write, the views, typed errors, idempotent sync answers,
# bootstrap, revocation, close/reopen, a killed writer process, and the file checked by Python's own sqlite3.
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid

import pytest

import linli_ffi as L
import wire
from wire import MIN, now_ms


def open_replica(path, user, role, device=None):
    device = device or str(uuid.uuid4())
    return L.Replica.open(path, L.DeviceIdentity(device_id=device, user_id=user, role=role), key=wire.KEY), device


def visit(world, health=None, seen=True, notes=""):
    return L.VisitInput(grid_id=world.grid, household_id=world.household, seen=seen, health=health,
                        needs=[L.Need.GROCERIES] if health else [], notes=notes)


def ticket(world, complexity=L.Complexity.SMALL, category="water_leak"):
    return L.TicketInput(grid_id=world.grid, request_type=L.RequestType.COMPLAINT, category=category,
                         complexity=complexity, building="3", unit="2", household_id=world.household,
                         description="Water through the ceiling", channel=L.Channel.GROUP_CHAT,
                         reporter_name=None, reporter_phone=None)


def integrity(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0], con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()


def unreadable_without_key(path):
    """Whether Python's own sqlite3, which has no key, is refused the file (an encrypted run's independent check in
    place of `integrity`: the library's reopen with the key then stands for the file being whole)."""
    con = sqlite3.connect(path)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return False
    except sqlite3.DatabaseError as e:
        return "not a database" in str(e)
    finally:
        con.close()


def check_file(path, expected=("ok", "wal")):
    if wire.KEY:
        assert unreadable_without_key(path)
    else:
        assert integrity(path)[: len(expected)] == expected


def test_every_offline_write_updates_the_views_and_survives_reopening(world, tmp_db):
    setup = world.setup_ops()

    # The micro-butler's phone: visits, an activity, a ticket raised on a round.
    butler_path = tmp_db("butler.db")
    butler, butler_device = open_replica(butler_path, world.butler, L.Role.VOLUNTEER)
    outcome = butler.apply_sync_response(wire.response(setup, cursor=5))
    assert (outcome.received, outcome.cursor) == (5, 5)
    day_start = now_ms() - 60 * MIN
    due = butler.households_to_visit(day_start)
    assert [h.household_id for h in due] == [world.household]
    assert not due[0].visited_today and due[0].elderly_alone and due[0].room == "501"
    assert [g.name for g in butler.grid_cells()] == ["第三网格"]
    assert butler.grid_cells()[0].as_butler

    plain = butler.record_visit(visit(world))
    assert plain.follow_up_ticket_id is None
    flagged = butler.record_visit(visit(world, health=L.HealthFlag.UNWELL, notes="dizzy since morning"))
    assert flagged.follow_up_ticket_id is not None
    due = butler.households_to_visit(day_start)
    assert due[0].visited_today and due[0].last_seen is True

    start = now_ms() - 120 * MIN
    approved_entry = butler.log_activity(L.ActivityInput(grid_id=world.grid, activity="patrol",
                                                         start_ms=start, end_ms=start + 90 * MIN, notes=""))
    rejected_entry = butler.log_activity(L.ActivityInput(grid_id=world.grid, activity="cleaning",
                                                         start_ms=start, end_ms=start + 30 * MIN, notes=""))
    assert butler.my_summary().pending_minutes == 120
    raised = butler.create_ticket(ticket(world, category="broken_light"))
    assert {t.ticket_id for t in butler.open_tickets()} == {flagged.follow_up_ticket_id, raised}

    # Refusals are immediate and typed, and store nothing.
    with pytest.raises(L.ReplicaError.Rejected) as e:
        butler.take_ticket(raised, None)
    assert e.value.code == "role_forbidden"
    with pytest.raises(L.ReplicaError.Invalid):
        butler.record_visit(L.VisitInput(grid_id="not-a-uuid", household_id=world.household, seen=True,
                                         health=None, needs=[], notes=""))
    with pytest.raises(L.ReplicaError.Rejected) as e:
        butler.log_activity(L.ActivityInput(grid_id=world.grid, activity="patrol", start_ms=start,
                                            end_ms=start - 1, notes=""))
    assert e.value.code == "invalid_field"
    assert butler.sync_status().unsynced_ops == 6  # 2 visits + follow-up ticket + 2 activities + 1 ticket

    pushed = wire.request_ops(butler.prepare_sync())
    assert [o["kind"] for o in pushed] == ["entry.visit", "entry.visit", "ticket.create", "entry.activity",
                                           "entry.activity", "ticket.create"]
    acked = butler.apply_sync_response(wire.response(pushed, acked=[o["id"] for o in pushed], cursor=11))
    assert acked.acked == 6 and butler.sync_status().unsynced_ops == 0

    # The grid worker's phone receives everything and handles tickets and approvals offline.
    worker_path = tmp_db("worker.db")
    worker, _ = open_replica(worker_path, world.worker, L.Role.GRID_WORKER)
    worker.apply_sync_response(wire.response(setup + pushed, cursor=11))
    tickets = {t.ticket_id: t for t in worker.open_tickets()}
    assert set(tickets) == {flagged.follow_up_ticket_id, raised}
    assert tickets[flagged.follow_up_ticket_id].category == "health_unwell"
    assert tickets[raised].status == L.TicketStatus.OPEN
    assert tickets[raised].on_site.verdict == L.Verdict.NOT_STARTED

    worker.take_ticket(raised, "on my way")
    t = {t.ticket_id: t for t in worker.open_tickets()}[raised]
    assert t.status == L.TicketStatus.TAKEN and t.on_site.verdict == L.Verdict.PENDING
    assert t.on_site.deadline_ms == t.taken_ms + 5 * MIN
    worker.arrive_ticket(raised, None)
    worker.solve_ticket(raised, "bulb replaced")
    t = {t.ticket_id: t for t in worker.open_tickets()}[raised]
    assert t.status == L.TicketStatus.SOLVED
    assert t.on_site.verdict == L.Verdict.MET and t.solved.verdict == L.Verdict.MET
    worker.answer_ticket(raised, "told the resident")
    assert raised not in {t.ticket_id for t in worker.open_tickets()}
    worker.rate_ticket(raised, 5, "quick")
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.rate_ticket(raised, 6, None)
    assert e.value.code == "invalid_field"
    worker.reopen_ticket(raised, "light went out again")
    assert {t.ticket_id: t for t in worker.open_tickets()}[raised].status == L.TicketStatus.REOPENED

    follow_up = flagged.follow_up_ticket_id
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.arrive_ticket(follow_up, None)
    assert e.value.code == "invalid_transition"
    worker.take_ticket(follow_up, None)
    worker.plan_ticket(follow_up, "doctor visit with the family tomorrow")
    t = {t.ticket_id: t for t in worker.open_tickets()}[follow_up]
    assert t.complexity == L.Complexity.COMPLEX and t.status == L.TicketStatus.PLANNED
    assert t.plan.verdict == L.Verdict.MET and t.answer.verdict == L.Verdict.PENDING

    assert {p.entry_id for p in worker.pending_entries()} == {approved_entry, rejected_entry}
    worker.approve_entry(approved_entry, None)
    worker.reject_entry(rejected_entry, "no such activity that day")
    assert worker.pending_entries() == []
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.approve_entry(approved_entry, None)
    assert e.value.code == "invalid_transition"
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.redeem_points(world.butler, 1, L.RedeemPurpose.GOODS(item="rice"))
    assert e.value.code == "role_forbidden"
    worker_ops = wire.request_ops(worker.prepare_sync())
    assert "card.credit" in [o["kind"] for o in worker_ops]

    # The butler sees the approved hours and the points (10 an hour).
    butler.apply_sync_response(wire.response(worker_ops, cursor=30))
    me = butler.my_summary()
    assert (me.approved_minutes, me.pending_minutes, me.card_balance, me.card_credited) == (90, 0, 15, 15)

    # The property office redeems offline, within the rights the server granted this device.
    office_path = tmp_db("office.db")
    office, office_device = open_replica(office_path, world.admin, L.Role.ADMIN)
    office.apply_sync_response(wire.response(setup + pushed + worker_ops, cursor=30))
    fee = L.RedeemPurpose.FEE_OFFSET(household_id=world.household, period="2026-11")
    with pytest.raises(L.ReplicaError.Rejected) as e:
        office.redeem_points(world.butler, 10, fee)
    assert e.value.code == "insufficient_rights"
    office.apply_sync_response(wire.response([world.grant(world.butler, office_device, 12)], cursor=31))
    assert office.card(world.butler).rights_here == 12
    card = office.redeem_points(world.butler, 10, fee)
    assert (card.balance, card.rights_here) == (5, 2)
    with pytest.raises(L.ReplicaError.Rejected) as e:
        office.redeem_points(world.butler, 3, L.RedeemPurpose.GOODS(item="soap"))
    assert e.value.code == "insufficient_rights"

    # Close, reopen: the views are what they were.
    worker_device = worker.sync_status().device_id
    snapshot = {
        "butler": (butler.households_to_visit(day_start), butler.my_summary(), butler.open_tickets()),
        "worker": (worker.open_tickets(), worker.grid_cells(), worker.sync_status().unsynced_ops),
        "office": (office.card(world.butler),),
    }
    for r in (butler, worker, office):
        r.close()
    with pytest.raises(L.ReplicaError.Closed):
        butler.my_summary()
    butler, _ = open_replica(butler_path, world.butler, L.Role.VOLUNTEER, butler_device)
    worker, _ = open_replica(worker_path, world.worker, L.Role.GRID_WORKER, worker_device)
    office, _ = open_replica(office_path, world.admin, L.Role.ADMIN, office_device)
    assert (butler.households_to_visit(day_start), butler.my_summary(), butler.open_tickets()) == snapshot["butler"]
    assert (worker.open_tickets(), worker.grid_cells(), worker.sync_status().unsynced_ops) == snapshot["worker"]
    assert (office.card(world.butler),) == snapshot["office"]
    for r in (butler, worker, office):
        r.close()

    for path in (butler_path, worker_path, office_path):
        check_file(path)


def test_applying_the_same_answer_twice_changes_nothing(world, tmp_db):
    replica, _ = open_replica(tmp_db("r.db"), world.worker, L.Role.GRID_WORKER)
    answer = wire.response(world.setup_ops(), cursor=5)
    replica.apply_sync_response(answer)
    replica.record_visit(visit(world))
    before = (replica.households_to_visit(0), replica.grid_cells(), replica.prepare_sync(), replica.my_summary())
    again = replica.apply_sync_response(answer)
    assert (again.received, again.acked) == (0, 0)
    assert (replica.households_to_visit(0), replica.grid_cells(), replica.prepare_sync(),
            replica.my_summary()) == before
    # Acknowledging twice is the same as once.
    ops = wire.request_ops(replica.prepare_sync())
    ack = wire.response([], acked=[o["id"] for o in ops], cursor=6)
    assert replica.apply_sync_response(ack).acked == 1
    assert replica.apply_sync_response(ack).acked == 0
    assert replica.sync_status().unsynced_ops == 0
    # Folding what the server holds into the base state changes nothing visible.
    views = (replica.households_to_visit(0), replica.grid_cells(), replica.my_summary())
    assert replica.compact() == 6
    assert (replica.households_to_visit(0), replica.grid_cells(), replica.my_summary()) == views


def test_bootstrap_from_a_snapshot_and_wipe_on_revocation(world, tmp_db):
    path = tmp_db("phone.db")
    phone, _ = open_replica(path, world.butler, L.Role.VOLUNTEER)
    with pytest.raises(L.ReplicaError.Invalid):
        phone.bootstrap(b'{"protocol": 1}')
    phone.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    phone.record_visit(visit(world))
    assert phone.sync_status().unsynced_ops == 1
    # A (re)bootstrap from the server's snapshot moves the cursor and keeps unsynced work; the snapshot is the whole
    # of the scope, so what was received before and is not in it (here: everything) is gone.
    phone.bootstrap(wire.empty_snapshot(cursor=40))
    assert phone.sync_status().cursor == 40 and phone.sync_status().unsynced_ops == 1
    assert phone.households_to_visit(0) == [] and phone.grid_cells() == []
    phone.apply_sync_response(wire.response(world.setup_ops(), cursor=45))
    assert phone.households_to_visit(0)[0].visited_today

    with pytest.raises(L.ReplicaError.Rejected) as e:
        phone.apply_sync_response(wire.problem("upgrade_required", 426))
    assert e.value.code == "upgrade_required"
    assert phone.households_to_visit(0) != []

    with pytest.raises(L.ReplicaError.Revoked):
        phone.apply_sync_response(wire.problem("device_revoked", 401))
    assert phone.households_to_visit(0) == []
    assert phone.grid_cells() == []
    with pytest.raises(L.ReplicaError.Revoked):
        phone.record_visit(visit(world))
    phone.close()
    if wire.KEY:
        check_file(path)
    else:
        con = sqlite3.connect(path)
        counts = con.execute("SELECT (SELECT count(*) FROM local_ops), (SELECT count(*) FROM remote_ops),"
                             " (SELECT count(*) FROM v_household), (SELECT revoked FROM device)").fetchone()
        con.close()
        assert counts == (0, 0, 0, 1)
        assert integrity(path)[0] == "ok"
    # No trace of the notes or ids in the file's free pages or WAL (secure_delete + VACUUM + checkpoint).
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            assert world.household.encode() not in open(name, "rb").read()


def test_a_killed_writer_leaves_whole_writes_only(world, tmp_db):
    path = tmp_db("killed.db")
    device = str(uuid.uuid4())
    replica, _ = open_replica(path, world.butler, L.Role.VOLUNTEER, device)
    replica.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    replica.close()
    child = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(__file__), "crash_writer.py"), path, device, world.butler,
         world.grid, world.household],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.environ["LINLI_BINDINGS_DIR"]))
    committed = 0
    for line in child.stdout:
        committed = int(line)
        if committed >= 40:
            break
    child.send_signal(signal.SIGKILL)  # mid-write, with no chance to close anything
    child.wait()
    assert committed >= 40

    check_file(path, ("ok",))
    replica, _ = open_replica(path, world.butler, L.Role.VOLUNTEER, device)
    ops = wire.request_ops(replica.prepare_sync())
    # Every visit the child saw committed is there; a flagged visit is never there without its ticket.
    visits = [o for o in ops if o["kind"] == "entry.visit"]
    tickets = {o["entity"] for o in ops if o["kind"] == "ticket.create"}
    assert len(visits) >= committed
    for v in visits:
        if "health" in v["body"]:
            assert v["body"]["follow_up"] in tickets
    assert len(tickets) == sum(1 for v in visits if "health" in v["body"])
    assert replica.households_to_visit(0)[0].visited_today
    replica.close()


def test_an_op_refused_for_good_is_set_aside_and_reported(world, tmp_db):
    replica, _ = open_replica(tmp_db("r.db"), world.butler, L.Role.VOLUNTEER)
    replica.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    kept = replica.record_visit(visit(world))
    refused = replica.record_visit(visit(world, notes="second round"))
    ops = wire.request_ops(replica.prepare_sync())
    refused_op = next(o for o in ops if o["entity"] == refused.entry_id)
    answer = json.dumps({"code": "out_of_scope", "status": 403, "op_index": 1, "op_id": refused_op["id"]}).encode()
    with pytest.raises(L.ReplicaError.Rejected) as e:
        replica.apply_sync_response(answer)
    assert e.value.code == "out_of_scope"
    [rejected] = replica.rejected_ops()
    assert (rejected.op_id, rejected.kind, rejected.entity_id, rejected.code) == (
        refused_op["id"], "entry.visit", refused.entry_id, "out_of_scope")
    assert [o["entity"] for o in wire.request_ops(replica.prepare_sync())] == [kept.entry_id]
    replica.close()


def test_threads_share_one_replica(world, tmp_db):
    import threading

    replica, _ = open_replica(tmp_db("r.db"), world.butler, L.Role.VOLUNTEER)
    replica.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    errors = []

    def work():
        try:
            for _ in range(25):
                replica.record_visit(visit(world))
                replica.households_to_visit(0)
                replica.prepare_sync()
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert replica.sync_status().unsynced_ops == 100
    assert len({o["id"] for o in wire.request_ops(replica.prepare_sync())}) == 100
    replica.close()


def test_sync_over_http_against_a_loopback_responder(world, tmp_db):
    import http.server
    import threading

    setup = world.setup_ops()
    seen = []
    revoked = threading.Event()

    class Responder(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            seen.append(("GET", self.path, self.headers.get("Authorization"), None))
            self.answer(404, b'{"code":"not_found","status":404}')

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(("POST", self.path, self.headers.get("Authorization"), request))
            if revoked.is_set():
                self.answer(401, wire.problem("device_revoked", 401))
                return
            ops = setup if request["cursor"] == 0 else []
            self.answer(200, wire.response(ops, acked=[o["id"] for o in request["ops"]], cursor=5))

    server = http.server.HTTPServer(("127.0.0.1", 0), Responder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        replica, _ = open_replica(tmp_db("r.db"), world.butler, L.Role.VOLUNTEER)
        first = replica.sync(base, "token-abc")
        assert (first.received, first.cursor) == (5, 5)
        assert [(m, p, a) for m, p, a, _ in seen] == [("GET", "/v1/snapshot?protocol=1", "Bearer token-abc"),
                                                        ("POST", "/v1/sync", "Bearer token-abc")]
        replica.record_visit(visit(world))
        second = replica.sync(base, "token-abc")
        assert (second.acked, second.received) == (1, 0)
        assert seen[-1][3]["cursor"] == 5 and len(seen[-1][3]["ops"]) == 1
        assert replica.sync_status().unsynced_ops == 0

        import socket

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
        closed.close()  # nothing listens there now
        with pytest.raises(L.ReplicaError.Offline):
            replica.sync(dead, "token-abc")
        assert replica.sync_status().unsynced_ops == 0

        revoked.set()
        with pytest.raises(L.ReplicaError.Revoked):
            replica.sync(base, "token-abc")
        assert replica.households_to_visit(0) == []
        replica.close()
    finally:
        server.shutdown()
