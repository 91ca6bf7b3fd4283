# test_errors.py: the error table of docs/embedding.md ("4. Errors"), one test per row, through the generated
# bindings. Found by trying the library as an app developer would (issue 16): a malformed base URL came back as
# `Offline` (an app would retry a bug forever), a captive portal's 200 page as `Invalid`, a 404 page as an
# undocumented `http_error`, a problem document's status as "HTTP 0", taking an unknown ticket as `out_of_scope`,
# and a `Storage` reason carried the file's full path. Answers that are not Linli's come from a loopback HTTP
# server playing the captive portal or proxy (those are not our components); Linli's own answers are the
# documented problem documents (wire.problem).
import http.server
import os
import socket
import threading
import uuid

import pytest

import linli_ffi as L
import wire

NOT_REACHED = "could not be reached properly"


def open_replica(path, user, role):
    device = str(uuid.uuid4())
    return L.Replica.open(path, L.DeviceIdentity(device_id=device, user_id=user, role=role), key=wire.KEY)


def visit(world, seen=True):
    return L.VisitInput(grid_id=world.grid, household_id=world.household, seen=seen, health=None, needs=[],
                        notes="")


@pytest.fixture
def responder():
    """A loopback HTTP server that answers every request with the (status, content type, body) it is given, and
    records the requests it saw."""
    answer = {"status": 200, "type": "application/json", "body": b"{}"}
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path, self.rfile.read(length)))
            self.send_response(answer["status"])
            self.send_header("Content-Type", answer["type"])
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        do_GET = reply
        do_POST = reply

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def set_answer(status, content_type, body):
        answer.update(status=status, type=content_type, body=body)

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", set_answer, seen
    finally:
        server.shutdown()


@pytest.fixture
def phone(world, tmp_db):
    """A micro-butler's replica that has its grid cell and one visit waiting to be pushed."""
    replica = open_replica(tmp_db("phone.db"), world.butler, L.Role.VOLUNTEER)
    replica.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    replica.record_visit(visit(world))
    yield replica
    replica.close()


def unchanged(replica):
    status = replica.sync_status()
    return status.cursor, status.unsynced_ops, len(replica.households_to_visit(0))


# Offline: no network.
def test_offline_when_nothing_answers(phone):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Offline):
        phone.sync(dead, "token")
    assert unchanged(phone) == before


# Offline: the server is unavailable (its own problem document with a 503).
def test_offline_when_the_server_is_unavailable(phone, responder):
    base, answer, _ = responder
    answer(503, "application/problem+json", wire.problem("unavailable", 503))
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Offline) as e:
        phone.sync(base, "token")
    assert "HTTP 503" in e.value.reason and "unavailable" in e.value.reason
    assert unchanged(phone) == before


# Offline, not reached properly: a captive portal answers 200 with its login page.
def test_a_captive_portal_page_is_offline_not_invalid(phone, responder):
    base, answer, seen = responder
    answer(200, "text/html; charset=utf-8", b"<html><body>Sign in to CMCC-WEB</body></html>")
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Offline) as e:
        phone.sync(base, "token")
    assert NOT_REACHED in e.value.reason and "HTTP 200, text/html" in e.value.reason
    assert unchanged(phone) == before
    assert len(seen) == 1  # one request, not a loop


# Offline, not reached properly: a proxy's error page.
def test_a_proxy_error_page_is_offline(phone, responder):
    base, answer, _ = responder
    answer(502, "text/html", b"<html><h1>502 Bad Gateway</h1><hr>nginx</html>")
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Offline) as e:
        phone.sync(base, "token")
    assert NOT_REACHED in e.value.reason and "HTTP 502" in e.value.reason
    assert unchanged(phone) == before


# Offline, not reached properly: a 404 page of a web server that is not Linli (a wrong host).
def test_a_404_page_is_offline_not_an_undocumented_code(phone, responder):
    base, answer, _ = responder
    answer(404, "text/html", b"<html>Not Found</html>")
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Offline) as e:
        phone.sync(base, "token")
    assert NOT_REACHED in e.value.reason and "HTTP 404" in e.value.reason
    assert unchanged(phone) == before


# Invalid: a malformed base URL is the app's configuration, not the network; nothing is sent.
@pytest.mark.parametrize("base", ["linli.example.org", "ftp://linli.example.org", "http://", "http://exa mple.org",
                                  "https://linli.example.org/?x=1", ""])
def test_a_malformed_base_url_is_invalid(phone, base):
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Invalid) as e:
        phone.sync(base, "token")
    assert "base_url" in e.value.reason
    assert unchanged(phone) == before


# Rejected: the server's problem document keeps its code and its HTTP status, over HTTP…
def test_a_server_refusal_keeps_code_and_status_over_http(phone, responder):
    base, answer, _ = responder
    answer(401, "application/problem+json", wire.problem("token_expired", 401))
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Rejected) as e:
        phone.sync(base, "token")
    assert e.value.code == "token_expired" and "HTTP 401" in e.value.reason
    assert unchanged(phone) == before


# …and handed over by the app's own HTTP stack (the status is read from the document, not "HTTP 0").
def test_a_problem_document_handed_over_keeps_its_status(phone):
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Rejected) as e:
        phone.apply_sync_response(wire.problem("clock_skew", 409))
    assert e.value.code == "clock_skew" and "HTTP 409" in e.value.reason and "HTTP 0" not in e.value.reason
    assert unchanged(phone) == before


# Rejected: a rule refused the write.
def test_a_rule_refusal_is_rejected_with_its_code(world, tmp_db):
    worker = open_replica(tmp_db("worker.db"), world.worker, L.Role.GRID_WORKER)
    worker.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.redeem_points(world.butler, 1, L.RedeemPurpose.GOODS(item="rice"))
    assert e.value.code == "role_forbidden"
    worker.close()


# Rejected unknown_entity: taking a ticket this replica has never heard of says so (it said out_of_scope).
def test_taking_an_unknown_ticket_is_unknown_entity(world, tmp_db):
    worker = open_replica(tmp_db("worker.db"), world.worker, L.Role.GRID_WORKER)
    worker.apply_sync_response(wire.response(world.setup_ops(), cursor=5))
    with pytest.raises(L.ReplicaError.Rejected) as e:
        worker.take_ticket(str(uuid.uuid4()), None)
    assert e.value.code == "unknown_entity"
    assert worker.sync_status().unsynced_ops == 0
    worker.close()


# Invalid: malformed input (an id that is not a UUID, bytes that are not a sync message).
def test_malformed_input_is_invalid(phone):
    before = unchanged(phone)
    with pytest.raises(L.ReplicaError.Invalid):
        phone.take_ticket("not-a-uuid", None)
    with pytest.raises(L.ReplicaError.Invalid):
        phone.apply_sync_response(b"<html></html>")
    assert unchanged(phone) == before


# Storage: the database failed; the reason does not carry the file's path.
def test_a_storage_error_does_not_name_the_file(world, tmp_path):
    path = tmp_path / "no-such-dir" / "secret-user-名字" / "phone.db"
    with pytest.raises(L.ReplicaError.Storage) as e:
        open_replica(str(path), world.butler, L.Role.VOLUNTEER)
    assert str(tmp_path) not in e.value.reason and "secret-user" not in e.value.reason
    assert "unable to open" in e.value.reason.lower()
    assert str(tmp_path) not in str(e.value)


# Revoked: the server revoked the device; its data is gone.
def test_revoked_wipes_and_says_so(phone, responder):
    base, answer, _ = responder
    answer(401, "application/problem+json", wire.problem("device_revoked", 401))
    with pytest.raises(L.ReplicaError.Revoked):
        phone.sync(base, "token")
    assert phone.households_to_visit(0) == []


# Closed: a call after close().
def test_closed_after_close(phone):
    phone.close()
    with pytest.raises(L.ReplicaError.Closed):
        phone.sync_status()


# Python's own type errors, raised by the generated bindings before the library is called: nothing is changed and
# the replica stays usable. Strings and integers are checked (TypeError, ValueError); a `bool` field is not checked
# by UniFFI 0.32's Python bindings: 2 reaches the library as a byte that is not a boolean and UniFFI raises its
# InternalError before our code runs, a str raises struct.error. Both documented in docs/embedding.md.
def test_python_type_errors_are_raised_before_the_call_and_change_nothing(phone, world):
    before = unchanged(phone)
    with pytest.raises(TypeError):
        phone.take_ticket(12345, None)
    with pytest.raises(ValueError):
        phone.redeem_points(world.butler, -1, L.RedeemPurpose.GOODS(item="rice"))
    with pytest.raises(L.InternalError):
        phone.record_visit(visit(world, seen=2))
    with pytest.raises(Exception) as e:
        phone.record_visit(visit(world, seen="yes"))
    assert not isinstance(e.value, L.ReplicaError)
    assert unchanged(phone) == before
    phone.record_visit(visit(world, seen=True))
    assert phone.sync_status().unsynced_ops == before[1] + 1
