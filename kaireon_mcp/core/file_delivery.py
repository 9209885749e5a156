"""Streaming writers for file-delivery channels (spec §8.3 ``fileConfig.format``).

``write_records`` pulls records from any iterable one at a time (Parquet: one row
group at a time), so a million-row batch run never sits in memory. Output goes to
``<path>.part`` first and is renamed into place only when complete, so a
downstream poller never picks up a half-written file.

Value rendering for text formats: ``None`` → empty (``options.nullValue``), bools →
``true``/``false``, dates → ISO 8601, dicts/lists → compact JSON, everything else
``str()``. JSON formats keep native types (non-finite floats become ``null``).
Parquet also JSON-encodes dict/list values so mixed shapes never break the schema.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from kaireon_mcp.errors import ValidationError

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "fixed_width", "pipe_delimited")
FILE_EXTENSIONS = {
    "csv": "csv",
    "tsv": "tsv",
    "json": "json",
    "jsonl": "jsonl",
    "parquet": "parquet",
    "fixed_width": "txt",
    "pipe_delimited": "txt",
}
_FIXED_DELIMITERS = {"tsv": "\t", "pipe_delimited": "|"}
DEFAULT_ROW_GROUP_SIZE = 50_000
DEFAULT_FIXED_WIDTH = 20


def _rows(records: Iterable[Any], columns: Sequence[str]) -> Iterator[list[Any]]:
    """Project each record onto ``columns`` lazily; missing keys become ``None``."""
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValidationError(f"record {i} is not an object", field="records")
        yield [record.get(c) for c in columns]


def text_value(value: Any, null: str = "") -> str:
    """Render one value for the text formats (see module doc)."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return null
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=_json_default, ensure_ascii=False)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dumps(columns: Sequence[str], row: list[Any]) -> str:
    obj = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
    try:
        return json.dumps(obj, default=_json_default, ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValidationError(f"record is not JSON-serialisable: {exc}", field="records") from exc


def _delimiter(fmt: str, options: Mapping[str, Any]) -> str:
    fixed = _FIXED_DELIMITERS.get(fmt)
    wanted = options.get("delimiter")
    if fixed is not None:
        if wanted is not None and wanted != fixed:
            raise ValidationError(f"{fmt} always uses {fixed!r} as delimiter", field="options.delimiter")
        return fixed
    delim = "," if wanted is None else wanted
    if not isinstance(delim, str) or len(delim) != 1 or delim in '\r\n"':
        raise ValidationError(
            "delimiter must be one character (not a quote or newline)", field="options.delimiter"
        )
    return delim


def _write_delimited(
    f: TextIO, fmt: str, columns: Sequence[str], rows: Iterator[list[Any]], options: Mapping[str, Any]
) -> int:
    writer = csv.writer(
        f,
        delimiter=_delimiter(fmt, options),
        quotechar='"',
        quoting=csv.QUOTE_MINIMAL,
        lineterminator=str(options.get("lineTerminator", "\n")),
    )
    null = str(options.get("nullValue", ""))
    if options.get("header", True):
        writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([text_value(v, null) for v in row])
        n += 1
    return n


def _write_json(f: TextIO, columns: Sequence[str], rows: Iterator[list[Any]]) -> int:
    """A JSON array written element by element; the list itself never exists in memory."""
    f.write("[")
    n = 0
    for row in rows:
        f.write(",\n" if n else "\n")
        f.write(_dumps(columns, row))
        n += 1
    f.write("\n]\n" if n else "]\n")
    return n


def _write_jsonl(f: TextIO, columns: Sequence[str], rows: Iterator[list[Any]]) -> int:
    n = 0
    for row in rows:
        f.write(_dumps(columns, row))
        f.write("\n")
        n += 1
    return n


def fixed_widths(columns: Sequence[str], options: Mapping[str, Any]) -> list[int]:
    """Width per column from ``options.widths`` (dict or list), else ``defaultWidth`` (20)."""
    raw = options.get("widths") or {}
    default = options.get("defaultWidth", DEFAULT_FIXED_WIDTH)
    if isinstance(raw, list | tuple):
        if len(raw) != len(columns):
            raise ValidationError("widths list must have one entry per column", field="options.widths")
        widths = list(raw)
    elif isinstance(raw, Mapping):
        widths = [raw.get(c, default) for c in columns]
    else:
        raise ValidationError("widths must be a list or a column→width object", field="options.widths")
    if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValidationError("column widths must be positive integers", field="options.widths")
    return [int(w) for w in widths]


def _fit(text: str, width: int, align: str, pad: str) -> str:
    """Pad or truncate to exactly ``width``; line breaks and tabs would break positions."""
    flat = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")[:width]
    return flat.rjust(width, pad) if align == "right" else flat.ljust(width, pad)


def _alignments(columns: Sequence[str], options: Mapping[str, Any]) -> list[str]:
    raw = options.get("align", "left")
    aligns = [raw.get(c, "left") for c in columns] if isinstance(raw, Mapping) else [raw] * len(columns)
    if any(a not in ("left", "right") for a in aligns):
        raise ValidationError("align must be 'left' or 'right'", field="options.align")
    return aligns


def _write_fixed(
    f: TextIO, columns: Sequence[str], rows: Iterator[list[Any]], options: Mapping[str, Any]
) -> int:
    widths = fixed_widths(columns, options)
    aligns = _alignments(columns, options)
    pad = str(options.get("padChar", " "))
    if len(pad) != 1:
        raise ValidationError("padChar must be one character", field="options.padChar")
    null = str(options.get("nullValue", ""))
    line_end = str(options.get("lineTerminator", "\n"))
    if options.get("header", False):
        f.write("".join(_fit(c, w, "left", " ") for c, w in zip(columns, widths, strict=True)) + line_end)
    n = 0
    for row in rows:
        cells = (_fit(text_value(v, null), w, a, pad) for v, w, a in zip(row, widths, aligns, strict=True))
        f.write("".join(cells) + line_end)
        n += 1
    return n


def _parquet_cell(value: Any) -> Any:
    if isinstance(value, Mapping | list | tuple):
        return text_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _arrow_table(columns: Sequence[str], batch: list[list[Any]], schema: Any) -> Any:
    import pyarrow as pa

    arrays = []
    for j, col in enumerate(columns):
        values = [_parquet_cell(row[j]) for row in batch]
        try:
            # infer then cast safely: pa.array(type=int64) would silently truncate 2.5 to 2
            arrays.append(pa.array(values).cast(schema.field(col).type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(
                f"column {col!r} does not fit type {schema.field(col).type}: {exc}; declare options.schema",
                field="options.schema",
            ) from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def _parquet_schema(columns: Sequence[str], first: list[list[Any]], options: Mapping[str, Any]) -> Any:
    """Declared types from ``options.schema`` ({col: "int64"|"string"|…}); the rest inferred from batch 1."""
    import pyarrow as pa

    declared = options.get("schema") or {}
    fields = []
    for j, col in enumerate(columns):
        if col in declared:
            try:
                dtype = pa.type_for_alias(str(declared[col]))
            except ValueError as exc:
                raise ValidationError(
                    f"unknown parquet type {declared[col]!r}", field=f"options.schema.{col}"
                ) from exc
        else:
            dtype = pa.array([_parquet_cell(row[j]) for row in first]).type
            if pa.types.is_null(dtype):
                dtype = pa.string()
        fields.append(pa.field(col, dtype))
    return pa.schema(fields)


def _write_parquet(
    path: Path, columns: Sequence[str], rows: Iterator[list[Any]], options: Mapping[str, Any]
) -> int:
    import pyarrow.parquet as pq

    size = options.get("rowGroupSize", DEFAULT_ROW_GROUP_SIZE)
    if not isinstance(size, int) or size < 1:
        raise ValidationError("rowGroupSize must be a positive integer", field="options.rowGroupSize")
    batch = list(itertools.islice(rows, size))
    schema = _parquet_schema(columns, batch, options)
    n = 0
    with pq.ParquetWriter(str(path), schema, compression=str(options.get("compression", "snappy"))) as writer:
        while batch:
            writer.write_table(_arrow_table(columns, batch, schema), row_group_size=size)
            n += len(batch)
            batch = list(itertools.islice(rows, size))
    return n


def _check(fmt: str, columns: Sequence[str]) -> None:
    if fmt not in FORMATS:
        raise ValidationError(
            f"unknown file format {fmt!r}; expected one of {', '.join(FORMATS)}", field="format"
        )
    if not columns or not all(isinstance(c, str) and c for c in columns):
        raise ValidationError("columns must be a non-empty list of names", field="columns")
    if len(set(columns)) != len(columns):
        raise ValidationError("column names must be unique", field="columns")


def _write(
    tmp: Path, fmt: str, columns: Sequence[str], rows: Iterator[list[Any]], options: Mapping[str, Any]
) -> int:
    if fmt == "parquet":
        return _write_parquet(tmp, columns, rows, options)
    with open(tmp, "w", encoding=str(options.get("encoding", "utf-8")), newline="") as f:
        if fmt == "json":
            return _write_json(f, columns, rows)
        if fmt == "jsonl":
            return _write_jsonl(f, columns, rows)
        if fmt == "fixed_width":
            return _write_fixed(f, columns, rows, options)
        return _write_delimited(f, fmt, columns, rows, options)


def write_records(
    path: str | os.PathLike[str],
    fmt: str,
    columns: Sequence[str],
    records: Iterable[Mapping[str, Any]],
    options: Mapping[str, Any] | None = None,
) -> int:
    """Stream ``records`` (only ``columns``, in that order) to ``path`` as ``fmt``; returns rows written.

    Options: ``delimiter`` (csv), ``header`` (delimited: true, fixed_width: false),
    ``nullValue``, ``lineTerminator`` ("\\n"), ``encoding`` ("utf-8"); fixed_width:
    ``widths``, ``defaultWidth``, ``align``, ``padChar``; parquet: ``rowGroupSize``
    (50 000), ``compression`` ("snappy"), ``schema``.
    """
    _check(fmt, columns)
    opts = options or {}
    target = Path(path)
    tmp = target.with_name(target.name + ".part")
    try:
        n = _write(tmp, fmt, list(columns), _rows(records, columns), opts)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    return n
