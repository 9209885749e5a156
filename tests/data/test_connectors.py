"""Connectors: encrypted credentials, real loopback probes, YAML specs, transform catalog."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Connector
from tests.conftest import make_tool_ctx
from tests.data.conftest import Call
from tests.data.http_stub import http_stub


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_credentials_are_encrypted_and_never_returned(call: Call, tdb: Database) -> None:
    out = await call(
        "createConnector",
        {
            "name": "warehouse",
            "type": "postgresql",
            "connectionConfig": {"host": "127.0.0.1", "port": 5432, "password": "hunter2"},
            "authConfig": {"username": "etl"},
        },
    )
    assert out["config"] == {"host": "127.0.0.1", "port": 5432}
    assert out["hasCredentials"] is True
    listed = await call("listConnectors", {})
    text = json.dumps(listed)
    assert "hunter2" not in text and "etl" not in text and "authConfigEncrypted" not in text
    async with tdb.tenant(make_tool_ctx(tdb, tenant="t1").principal) as repo:
        row = await repo.get(Connector, out["id"])
        assert row.auth_config_encrypted and "hunter2" not in row.auth_config_encrypted
        assert tdb.box.decrypt_json(row.auth_config_encrypted) == {"password": "hunter2", "username": "etl"}
    with pytest.raises(ConflictError):
        await call("createConnector", {"name": "warehouse", "type": "mysql"})


async def test_tcp_probe_reaches_a_loopback_listener_and_records_latency(call: Call) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        con = await call(
            "createConnector",
            {"name": "pg", "type": "postgresql", "config": {"host": "127.0.0.1", "port": port}},
        )
        out = await call("testConnector", {"connectorId": con["id"]})
    finally:
        server.close()
        await server.wait_closed()
    assert out["ok"] is True and out["status"] == "ok" and out["latencyMs"] >= 0
    listed = (await call("listConnectors", {}))["items"][0]
    assert listed["lastTestStatus"] == "ok" and listed["lastTestLatencyMs"] == out["latencyMs"]


async def test_tcp_probe_to_a_closed_port_fails(call: Call) -> None:
    con = await call(
        "createConnector",
        {"name": "db", "type": "mysql", "config": {"host": "127.0.0.1", "port": _free_port()}},
    )
    out = await call("testConnector", {"connectorId": con["id"]})
    assert out["ok"] is False and out["status"] == "failed" and "TCP connect failed" in out["message"]


async def test_public_and_metadata_addresses_are_not_contacted(call: Call) -> None:
    for name, host in (("public", "8.8.8.8"), ("metadata", "169.254.169.254")):
        con = await call("createConnector", {"name": name, "type": "redis", "config": {"host": host}})
        out = await call("testConnector", {"connectorId": con["id"]})
        assert out["status"] == "blocked", out


async def test_http_probe_uses_head_on_loopback(call: Call) -> None:
    async with http_stub({"/health": (200, {"ok": True})}) as (base, seen):
        con = await call(
            "createConnector", {"name": "api", "type": "rest_api", "config": {"url": base + "/health"}}
        )
        out = await call("testConnector", {"connectorId": con["id"]})
    assert out["status"] == "ok" and out["message"] == "HTTP 200"
    assert seen == ["HEAD /health HTTP/1.1"]


async def test_types_without_probe_are_reported_as_skipped(call: Call) -> None:
    con = await call("createConnector", {"name": "s3", "type": "aws_s3", "config": {"bucket": "b"}})
    out = await call("testConnector", {"connectorId": con["id"]})
    assert out["status"] == "skipped" and out["ok"] is False


async def test_update_connector_replaces_credentials(call: Call, tdb: Database) -> None:
    con = await call("createConnector", {"name": "crm", "type": "hubspot", "authConfig": {"token": "a"}})
    out = await call(
        "updateConnector", {"connectorId": con["id"], "description": "CRM", "authConfig": {"token": "b"}}
    )
    assert out["description"] == "CRM" and out["version"] == 2 and "token" not in json.dumps(out)
    async with tdb.tenant(make_tool_ctx(tdb, tenant="t1").principal) as repo:
        row = await repo.get(Connector, con["id"])
        assert tdb.box.decrypt_json(row.auth_config_encrypted or "") == {"token": "b"}
    with pytest.raises(NotFoundError):
        await call("updateConnector", {"connectorId": con["id"], "description": "x"}, tenant="t2")


YAML_OK = """
name: Weather API
baseUrl: http://127.0.0.1:9/
auth:
  type: api_key
  apiKey: s3cret
endpoints:
  - id: current
    path: /current
  - id: forecast
    path: /forecast
    method: get
"""


async def test_yaml_connector_is_validated_and_registered(call: Call) -> None:
    out = await call("createYamlConnector", {"yaml": YAML_OK})
    assert out["valid"] is True
    assert out["connector"]["type"] == "yaml_http" and out["connector"]["name"] == "Weather API"
    assert [e["method"] for e in out["endpoints"]] == ["GET", "GET"]
    assert "s3cret" not in json.dumps(out) and out["connector"]["hasCredentials"] is True


async def test_invalid_yaml_connector_lists_every_problem(call: Call) -> None:
    bad = "name: x\nendpoints:\n  - id: a\n    path: nope\n  - path: /b\n"
    with pytest.raises(ValidationError) as info:
        await call("createYamlConnector", {"yaml": bad})
    problems = info.value.extra["problems"]
    assert problems == [
        "baseUrl: required http(s) URL",
        "endpoints[0].path: required, starting with /",
        "endpoints[1].id: required string",
    ]
    with pytest.raises(ValidationError, match="does not parse"):
        await call("createYamlConnector", {"yaml": "name: [unclosed"})


async def test_transform_catalog_has_the_nineteen_ops(call: Call) -> None:
    out = await call("listTransformTypes")
    ops = [i["op"] for i in out["items"]]
    assert out["total"] == 19 and len(set(ops)) == 19
    assert {"cast", "mask_pii", "deduplicate", "language_detect"} <= set(ops)
