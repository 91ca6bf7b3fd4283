"""The third-party GeoReport v2 client `georeport` (PyPI) against a running `linli serve` (see run.sh).

The community is set up as an office would: the admin's device pushes a grid cell with a household register in
building 7, and the admin issues an Open311 api_key. A request is posted as any GeoReport client posts it
(form-encoded, `attribute[...]`); `georeport` then reads everything back, in JSON and in XML.
"""

import os
import secrets
import time
import uuid

import pytest
import requests
from georeport import GeoReport

BASE = os.environ["LINLI_BASE"]
PASSWORD = os.environ["LINLI_ADMIN_PASSWORD"]
ROOT = f"{BASE}/open311/v2"


def uuid7() -> str:
    """A UUID v7 (time-ordered), as the protocol asks of op ids."""
    ms = int(time.time() * 1000)
    rand = secrets.randbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def api(path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.post(f"{BASE}{path}", json=body or {}, headers=headers, timeout=10)
    assert r.status_code < 300, (path, r.status_code, r.text)
    return r.json()


@pytest.fixture(scope="module")
def community():
    login = api("/v1/auth/login", body={"username": "admin", "password": PASSWORD})
    web, admin = login["access_token"], login["user_id"]
    code = api("/v1/enrolment-codes", web, {"user_id": admin, "label": "office"})["code"]
    device = api("/v1/devices/enrol", body={"code": code})
    grid = str(uuid.uuid4())

    def op(kind, body, logical):
        return {
            "v": 1,
            "id": uuid7(),
            "replica": device["device_id"],
            "author": admin,
            "time": {"wall_ms": int(time.time() * 1000), "logical": logical},
            "kind": kind,
            "entity": grid,
            "body": body,
        }

    ops = [
        op("grid.create", {"name": "第一网格", "community": "幸福里社区"}, 0),
        op(
            "grid.add_household",
            {
                "household": str(uuid.uuid4()),
                "building": "7",
                "unit": "1",
                "room": "101",
                "elderly_alone": True,
                "contact_name": "李大爷",
            },
            1,
        ),
    ]
    api("/v1/sync", device["access_token"], {"protocol": 1, "cursor": 0, "ops": ops})
    key = api("/v1/open311/clients", web, {"name": "georeport test"})["api_key"]
    posted = requests.post(
        f"{ROOT}/requests.json",
        data={
            "api_key": key,
            "service_code": "water_leak",
            "attribute[building]": "7",
            "first_name": "秀英",
            "last_name": "王",
            "phone": "13812345678",
            "description": "楼上漏水",
        },
        timeout=10,
    )
    assert posted.status_code == 200, posted.text
    return {"key": key, "id": posted.json()[0]["service_request_id"]}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_services_a_definition_and_requests(community, fmt):
    client = GeoReport(ROOT, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "water_leak" in codes
    leak = next(s for s in services if s["service_code"] == "water_leak")
    assert leak["service_name"] == "漏水"
    # xmltodict reads text, JSON keeps the boolean.
    assert str(leak["metadata"]).lower() == "true"

    definition = client.get_service_definition("water_leak")
    assert definition["service_code"] == "water_leak"
    attributes = definition["attributes"]
    if fmt == "xml":
        attributes = attributes["attribute"]
    building = next(a for a in attributes if a["code"] == "building")
    assert str(building["required"]).lower() == "true"

    listed = client.get_service_requests()
    if isinstance(listed, dict):  # xmltodict gives one item as a dict
        listed = [listed]
    assert [r["service_request_id"] for r in listed] == [community["id"]]

    one = client.get_service_request(community["id"])
    assert one["service_request_id"] == community["id"]
    assert one["status"] == "open"
    assert one["service_code"] == "water_leak"
    assert one["address"] == "7号楼"
    text = str(one)
    for secret in ("王", "秀英", "13812345678"):
        assert secret not in text, (secret, text)

    if fmt == "json":
        # georeport reads an empty XML list (`<service_requests></service_requests>`) as None and fails on it.
        assert client.get_service_requests(service_code="noise", status="open") == []
    else:
        assert client.get_service_requests(service_code="water_leak", status="open")["service_request_id"] == community["id"]


def test_discovery_names_this_endpoint(community):
    discovery = requests.get(f"{ROOT}/discovery.json", timeout=10).json()
    endpoint = discovery["endpoints"][0]
    assert endpoint["url"] == ROOT
    assert "text/xml" in endpoint["formats"]


def test_a_revoked_key_is_refused_in_the_standards_error_format(community):
    r = requests.post(
        f"{ROOT}/requests.json",
        data={"api_key": "o311_not-a-key", "service_code": "water_leak", "attribute[building]": "7"},
        timeout=10,
    )
    assert r.status_code == 403
    assert r.json()[0]["code"] == 403
