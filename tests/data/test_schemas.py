"""Schema tools: creation, typed inserts with key collisions, SQL statistics, references, isolation."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Pipeline, Segment
from tests.conftest import make_tool_ctx
from tests.data.conftest import Call

FIELDS = [
    {"name": "customer_id", "isPrimaryKey": True},
    {"name": "age", "dataType": "integer"},
    {"name": "income", "dataType": "decimal"},
    {"name": "tier", "dataType": "varchar"},
    {"name": "email", "isUnique": True},
    {"name": "vip", "dataType": "boolean"},
]
ROWS = [
    {"customer_id": "C1", "age": 30, "income": 50000.5, "tier": "gold", "email": "a@x.io", "vip": True},
    {"customer_id": "C2", "age": "40", "income": 70000, "tier": "silver", "email": "b@x.io", "vip": "no"},
    {"customer_id": "C3", "age": 50, "income": None, "tier": "gold", "email": "c@x.io"},
]


async def _schema(call: Call, name: str = "Loyalty Members!") -> str:
    out = await call("createSchema", {"name": name, "displayName": "Loyalty", "fields": FIELDS})
    return str(out["id"])


async def test_create_schema_sanitises_name_and_records_the_key(call: Call) -> None:
    out = await call("createSchema", {"name": "Loyalty Members!", "displayName": "Loyalty", "fields": FIELDS})
    assert out["name"] == "loyalty_members"
    assert out["tableName"] == "ds_loyalty_members"
    assert out["primaryKey"] == ["customer_id"]
    assert [f["name"] for f in out["fields"]] == [f["name"] for f in FIELDS]
    assert out["fields"][0]["isNullable"] is False
    with pytest.raises(ConflictError):
        await call("createSchema", {"name": "loyalty members", "displayName": "again"})
    fields = await call("getSchemaFields", {"schemaName": "Loyalty Members"})
    assert fields["id"] == out["id"]


async def test_schema_without_key_gets_a_surrogate_id(call: Call) -> None:
    out = await call(
        "createSchema", {"name": "events", "displayName": "Events", "fields": [{"name": "kind"}]}
    )
    assert out["primaryKey"] == ["id"]
    ins = await call(
        "insertSchemaRows", {"schemaId": out["id"], "rows": [{"kind": "a"}, {"id": "e2", "kind": "b"}]}
    )
    assert ins["inserted"] == 2
    preview = await call("previewSchemaData", {"schemaId": out["id"]})
    assert {"id": "e2", "kind": "b"} in preview["rows"]


async def test_unknown_data_type_and_bad_field_name_are_refused(call: Call) -> None:
    with pytest.raises(ValidationError, match="dataType"):
        await call(
            "createSchema", {"name": "x", "displayName": "x", "fields": [{"name": "a", "dataType": "blob"}]}
        )
    with pytest.raises(ValidationError, match="field name"):
        await call("createSchema", {"name": "x", "displayName": "x", "fields": [{"name": "1bad"}]})


async def test_insert_skips_exactly_the_colliding_key_and_coerces_types(call: Call) -> None:
    schema_id = await _schema(call)
    first = await call("insertSchemaRows", {"schemaId": schema_id, "rows": ROWS})
    assert (first["inserted"], first["skipped"]) == (3, 0)
    again = [
        {"customer_id": "C2", "age": 1, "email": "new@x.io"},  # primary key collision
        {"customer_id": "C4", "age": 22, "email": "d@x.io"},
    ]
    second = await call("insertSchemaRows", {"schemaId": schema_id, "rows": again})
    assert (second["inserted"], second["skipped"]) == (1, 1)
    assert second["skippedRows"][0]["key"] == "C2"
    preview = await call("previewSchemaData", {"schemaId": schema_id, "limit": 10})
    assert preview["total"] == 4
    c2 = next(r for r in preview["rows"] if r["customer_id"] == "C2")
    assert c2 == {
        "customer_id": "C2",
        "age": 40,
        "income": 70000,
        "tier": "silver",
        "email": "b@x.io",
        "vip": False,
    }


async def test_insert_skips_unique_column_and_in_batch_duplicates(call: Call) -> None:
    schema_id = await _schema(call)
    await call("insertSchemaRows", {"schemaId": schema_id, "rows": ROWS[:1]})
    rows = [
        {"customer_id": "C8", "email": "a@x.io"},  # unique email taken by C1
        {"customer_id": "C9", "email": "z@x.io"},
        {"customer_id": "C9", "email": "y@x.io"},  # duplicate key inside the batch
    ]
    out = await call("insertSchemaRows", {"schemaId": schema_id, "rows": rows})
    assert (out["inserted"], out["skipped"]) == (1, 2)
    assert "unique column email" in out["skippedRows"][0]["reason"]


async def test_invalid_row_rejects_the_whole_batch(call: Call) -> None:
    schema_id = await _schema(call)
    bad = [ROWS[0], {"customer_id": "C5", "age": "forty"}]
    with pytest.raises(ValidationError, match=r"rows\[1\]: age"):
        await call("insertSchemaRows", {"schemaId": schema_id, "rows": bad})
    with pytest.raises(ValidationError, match="unknown column"):
        await call("insertSchemaRows", {"schemaId": schema_id, "rows": [{"customer_id": "C6", "nope": 1}]})
    with pytest.raises(ValidationError, match="customer_id: a value is required"):
        await call("insertSchemaRows", {"schemaId": schema_id, "rows": [{"age": 3}]})
    preview = await call("previewSchemaData", {"schemaId": schema_id})
    assert preview["total"] == 0


async def test_schema_stats_on_three_known_rows(call: Call) -> None:
    schema_id = await _schema(call)
    await call("insertSchemaRows", {"schemaId": schema_id, "rows": ROWS})
    stats = await call("getSchemaStats", {"schemaId": schema_id})
    assert stats["rowCount"] == 3
    by = {f["name"]: f for f in stats["fields"]}
    assert by["age"] == {
        "name": "age",
        "dataType": "integer",
        "nonNull": 3,
        "nulls": 0,
        "distinct": 3,
        "min": 30,
        "max": 50,
        "avg": 40.0,
    }
    assert by["income"]["nonNull"] == 2 and by["income"]["nulls"] == 1
    assert by["income"]["min"] == 50000.5 and by["income"]["max"] == 70000
    assert by["income"]["avg"] == pytest.approx(60000.25)
    assert by["tier"]["distinct"] == 2 and by["tier"]["min"] == "gold" and by["tier"]["max"] == "silver"
    assert by["tier"]["avg"] is None
    assert by["vip"]["nonNull"] == 2 and by["vip"]["distinct"] == 2


async def test_add_field_rules_on_a_loaded_schema(call: Call) -> None:
    schema_id = await _schema(call)
    await call("insertSchemaRows", {"schemaId": schema_id, "rows": ROWS})
    with pytest.raises(ValidationError, match="defaultValue"):
        await call("addSchemaField", {"schemaId": schema_id, "field": {"name": "score", "isNullable": False}})
    with pytest.raises(ConflictError):
        await call("addSchemaField", {"schemaId": schema_id, "field": {"name": "age"}})
    out = await call(
        "addSchemaField", {"schemaId": schema_id, "field": {"name": "score", "dataType": "integer"}}
    )
    assert out["fieldCount"] == 7 and out["field"]["ordinal"] == 6


async def test_delete_is_refused_while_referenced_then_allowed(call: Call, tdb: Database) -> None:
    base = await _schema(call)
    linked = await call("createSchema", {"name": "orders", "displayName": "Orders", "linkedSchemaId": base})
    async with tdb.tenant(make_tool_ctx(tdb, tenant="t1").principal) as repo:
        await repo.create(Segment, {"name": "Gold", "base_schema_id": base})
        await repo.create(Pipeline, {"name": "load", "schema_id": base})
    refs = await call("getSchemaInboundReferences", {"schemaId": base})
    assert refs["total"] == 3 and refs["canDelete"] is False
    assert refs["references"]["schemas"] == [{"id": linked["id"], "name": "orders"}]
    with pytest.raises(ConflictError, match="1 schemas, 1 pipelines, 1 segments"):
        await call("deleteSchema", {"schemaId": base})
    await call("insertSchemaRows", {"schemaId": linked["id"], "rows": [{"id": "o1"}]})
    out = await call("deleteSchema", {"schemaId": linked["id"]})
    assert out == {"id": linked["id"], "deleted": True, "soft": False, "rowsRemoved": 1}
    with pytest.raises(NotFoundError):
        await call("getSchemaFields", {"schemaId": linked["id"]})


async def test_other_tenants_schema_is_not_found(call: Call) -> None:
    schema_id = await _schema(call)
    for name, args in [
        ("getSchemaFields", {"schemaId": schema_id}),
        ("previewSchemaData", {"schemaId": schema_id}),
        ("getSchemaStats", {"schemaId": schema_id}),
        ("insertSchemaRows", {"schemaId": schema_id, "rows": [{"customer_id": "X"}]}),
        ("deleteSchema", {"schemaId": schema_id}),
    ]:
        with pytest.raises(NotFoundError):
            await call(name, args, tenant="t2")
    listed = await call("listSchemas", {}, tenant="t2")
    assert listed["items"] == [] and listed["pagination"]["total"] == 0


async def test_demo_schema_lists_with_fields(demo_db: Database) -> None:
    from kaireon_mcp.tools.registry import execute

    out = await execute("listSchemas", {}, make_tool_ctx(demo_db))
    schema = out["items"][0]
    assert schema["name"] == "starbucks_customers" and len(schema["fields"]) == 12
    stats = await execute("getSchemaStats", {"schemaId": schema["id"]}, make_tool_ctx(demo_db))
    assert stats["rowCount"] == 60
    age = next(f for f in stats["fields"] if f["name"] == "age")
    assert age["nonNull"] == 60 and age["min"] <= age["avg"] <= age["max"]
