"""Authentication, tenant pinning, roles and the error envelope at the edge."""

from __future__ import annotations

import pytest

from tests.bridge.conftest import TENANT_A, TENANT_B, Bridge


async def test_missing_key_is_401_with_envelope(bridge: Bridge) -> None:
    async with bridge.anonymous() as client:
        response = await client.get("/api/v1/ai/config-status")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_unknown_key_is_401(bridge: Bridge) -> None:
    async with bridge.anonymous() as client:
        response = await client.get("/api/v1/ai/config-status", headers={"X-API-Key": "krn_nope"})
    assert response.status_code == 401


async def test_bearer_key_is_accepted(bridge: Bridge) -> None:
    key = bridge.keys[(TENANT_A, "viewer")]
    async with bridge.anonymous() as client:
        response = await client.get("/api/v1/ai/config-status", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


async def test_mismatching_tenant_header_is_403(bridge: Bridge) -> None:
    async with bridge.client(TENANT_A, "admin", **{"X-Tenant-Id": TENANT_B}) as client:
        response = await client.get("/api/v1/ai/analyzer-settings")
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "X-Tenant-Id"


async def test_matching_tenant_header_is_fine(bridge: Bridge) -> None:
    async with bridge.client(TENANT_A, "admin", **{"X-Tenant-Id": TENANT_A}) as client:
        assert (await client.get("/api/v1/ai/analyzer-settings")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("PUT", "/api/v1/ai/analyzer-settings", "editor"),
        ("POST", "/api/v1/ai/recommendations/x/apply", "editor"),
        ("POST", "/api/v1/ai/parse-rule", "viewer"),
        ("POST", "/api/v1/ai/analyze/segments", "viewer"),
        ("POST", "/api/v1/ai/recommendations", "viewer"),
        ("PATCH", "/api/v1/ai/recommendations/x", "viewer"),
        ("DELETE", "/api/v1/ai/conversations/x", "viewer"),
        ("POST", "/api/v1/ai/imports/x/apply", "viewer"),
        ("POST", "/api/v1/ai/imports/x/revert", "viewer"),
        ("POST", "/api/v1/recommend", "viewer"),
    ],
)
async def test_role_refusals_are_403(bridge: Bridge, method: str, path: str, role: str) -> None:
    async with bridge.client(TENANT_A, role) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


async def test_invalid_json_is_400(bridge: Bridge) -> None:
    async with bridge.client() as client:
        response = await client.post(
            "/api/v1/ai/parse-rule", content=b"{nope", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "VALIDATION", "message": "Invalid JSON body"}


async def test_validation_errors_name_the_field(bridge: Bridge) -> None:
    async with bridge.client() as client:
        response = await client.post("/api/v1/ai/recommendations", json={"type": "policy", "title": "t"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "description"


async def test_scoped_key_is_refused(bridge: Bridge) -> None:
    from sqlalchemy import update

    from kaireon_mcp.storage.keys import hash_key
    from kaireon_mcp.storage.tables import ApiKey

    key = bridge.keys[(TENANT_A, "admin")]
    async with bridge.db.session() as session:
        await session.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(key)).values(scopes=["scim"]))
    async with bridge.client() as client:
        assert (await client.get("/api/v1/ai/config-status")).status_code == 403


async def test_healthz_and_openapi_need_no_key(bridge: Bridge) -> None:
    async with bridge.anonymous() as client:
        health = await client.get("/healthz")
        document = await client.get("/api/v1/openapi.json")
    assert health.json()["status"] == "ok"
    spec = document.json()
    assert spec["openapi"] == "3.1.0"
    assert len([p for p in spec["paths"] if p.startswith("/api/v1/ai/")]) == 16
    assert "ErrorResponse" in spec["components"]["schemas"]
