import csv
import json
from datetime import date

import pyarrow.parquet as pq
import pytest

from kaireon_mcp.core.file_delivery import write_records
from kaireon_mcp.errors import ValidationError

COLUMNS = ["customerId", "offerId", "score", "note", "active"]
RECORDS = [
    {
        "customerId": "c1",
        "offerId": "off-1",
        "score": 0.91,
        "note": 'Buy 1, get "1" free',
        "active": True,
        "ignored": "x",
    },
    {"customerId": "c2", "offerId": "off|2", "score": 0.5, "note": None, "active": False},
    {"customerId": "c3", "offerId": "off\t3", "score": 1, "note": "multi\nline"},  # missing 'active'
]


def as_text(v):
    return "" if v is None else ("true" if v is True else "false" if v is False else str(v))


def expected_text_rows():
    return [[as_text(r.get(c)) for c in COLUMNS] for r in RECORDS]


def gen():
    """A generator, so the writer must consume lazily (it cannot len() or index it)."""
    yield from RECORDS


@pytest.mark.parametrize(
    "fmt,opts,delim",
    [
        ("csv", {}, ","),
        ("csv", {"delimiter": ";"}, ";"),
        ("tsv", {}, "\t"),
        ("pipe_delimited", {}, "|"),
    ],
)
def test_delimited_round_trip(tmp_path, fmt, opts, delim):
    path = tmp_path / f"out.{fmt}"
    assert write_records(path, fmt, COLUMNS, gen(), opts) == 3
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=delim))
    assert rows[0] == COLUMNS
    assert rows[1:] == expected_text_rows()
    assert not (tmp_path / f"out.{fmt}.part").exists()


def test_csv_without_header_and_custom_null(tmp_path):
    path = tmp_path / "n.csv"
    write_records(
        path, "csv", ["a", "b"], iter([{"a": None, "b": 2}]), {"header": False, "nullValue": "NULL"}
    )
    assert path.read_text() == "NULL,2\n"


def test_json_array_round_trip(tmp_path):
    path = tmp_path / "out.json"
    assert write_records(path, "json", COLUMNS, gen()) == 3
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == [{c: r.get(c) for c in COLUMNS} for r in RECORDS]
    empty = tmp_path / "empty.json"
    assert write_records(empty, "json", COLUMNS, iter([])) == 0
    assert json.loads(empty.read_text()) == []


def test_jsonl_round_trip_with_dates_and_nan(tmp_path):
    path = tmp_path / "out.jsonl"
    recs = [*RECORDS, {"customerId": "c4", "score": float("nan"), "note": date(2025, 4, 10)}]
    write_records(path, "jsonl", COLUMNS, iter(recs))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[:3] == [{c: r.get(c) for c in COLUMNS} for r in RECORDS]
    assert lines[3] == {
        "customerId": "c4",
        "offerId": None,
        "score": None,
        "note": "2025-04-10",
        "active": None,
    }


def test_parquet_round_trip_in_row_groups(tmp_path):
    path = tmp_path / "out.parquet"
    many = [
        {
            "customerId": f"c{i}",
            "offerId": "o",
            "score": i / 10,
            "note": None if i % 3 else "n",
            "active": i % 2 == 0,
        }
        for i in range(25)
    ]
    assert write_records(path, "parquet", COLUMNS, (r for r in many), {"rowGroupSize": 10}) == 25
    pf = pq.ParquetFile(path)
    assert pf.metadata.num_row_groups == 3
    assert pf.read().to_pylist() == [{c: r.get(c) for c in COLUMNS} for r in many]


def test_parquet_mixed_records_and_declared_schema(tmp_path):
    path = tmp_path / "mixed.parquet"
    write_records(path, "parquet", COLUMNS, gen(), {"schema": {"score": "double"}})
    table = pq.read_table(path)
    assert str(table.schema.field("score").type) == "double"
    assert table.to_pylist() == [
        {c: (float(r[c]) if c == "score" else r.get(c)) for c in COLUMNS} for r in RECORDS
    ]


def test_parquet_type_drift_between_row_groups_is_reported(tmp_path):
    recs = [{"n": 1}, {"n": 2}, {"n": 2.5}]
    with pytest.raises(ValidationError) as exc:
        write_records(tmp_path / "bad.parquet", "parquet", ["n"], iter(recs), {"rowGroupSize": 2})
    assert exc.value.field == "options.schema"
    assert not (tmp_path / "bad.parquet").exists() and not (tmp_path / "bad.parquet.part").exists()


def test_fixed_width_pads_truncates_and_aligns(tmp_path):
    path = tmp_path / "out.txt"
    widths = {"customerId": 4, "offerId": 6, "score": 5, "note": 8, "active": 5}
    write_records(path, "fixed_width", COLUMNS, gen(), {"widths": widths, "align": {"score": "right"}})
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 4
    assert all(len(line) == sum(widths.values()) for line in lines[:3])
    assert lines[0] == "c1  off-1  0.91Buy 1, gtrue "
    assert lines[1] == "c2  off|2   0.5        false"
    assert lines[2] == "c3  off 3     1multi li     "


def test_fixed_width_default_width_and_list_widths(tmp_path):
    path = tmp_path / "d.txt"
    write_records(path, "fixed_width", ["a", "b"], iter([{"a": "x", "b": None}]), {"header": True})
    assert path.read_text() == "a".ljust(20) + "b".ljust(20) + "\n" + "x".ljust(20) + " " * 20 + "\n"
    with pytest.raises(ValidationError):
        write_records(path, "fixed_width", ["a", "b"], iter([]), {"widths": [3]})


def test_validation(tmp_path):
    with pytest.raises(ValidationError):
        write_records(tmp_path / "x", "xlsx", ["a"], [])
    with pytest.raises(ValidationError):
        write_records(tmp_path / "x", "csv", ["a", "a"], [])
    with pytest.raises(ValidationError):
        write_records(tmp_path / "x", "csv", ["a"], [], {"delimiter": ";;"})
    with pytest.raises(ValidationError):
        write_records(tmp_path / "x", "tsv", ["a"], [], {"delimiter": ","})
    with pytest.raises(ValidationError):
        write_records(tmp_path / "x", "jsonl", ["a"], iter([["not", "a", "dict"]]))
