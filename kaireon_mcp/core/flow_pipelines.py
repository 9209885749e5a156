"""IR-native data pipelines (spec §2.29): validation, versions, an in-process executor, runs and DLQ.

The Pipeline IR is ``{kind: "pipeline", irVersion: "1.0", nodes: [...], edges: [...]}``.
Nodes are ``{id, kind, op?, config}`` with kinds source/transform/validate/join/target/
enrich/branch/archive; edges are ``{from, to, when?}`` (``when`` = ``"true"``/``"false"``
selects a branch output). Without edges the nodes run as a chain in list order.

Runs execute synchronously inside the caller's transaction: every node works on rows in
memory, validate nodes quarantine failing rows into the run's DLQ (``errors``) together
with the rule that caught them, and target rows are written only once every node has
succeeded, so a failed run leaves no partial writes behind.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kaireon_mcp.core import data
from kaireon_mcp.core.formula import evaluate_formula, validate_formula
from kaireon_mcp.core.operators import evaluate_tree
from kaireon_mcp.errors import ConflictError, KaireonError, NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    Connector,
    DataSchema,
    Pipeline,
    PipelineRun,
    PipelineVersion,
    SchemaRow,
)
from kaireon_mcp.storage.types import utcnow

Row = dict[str, Any]
IR_VERSION: Final = "1.0"
NODE_KINDS: Final = ("source", "transform", "validate", "join", "target", "enrich", "branch", "archive")
RUN_STATUSES: Final = ("pending", "running", "completed", "failed", "completed_with_errors")
MAX_DLQ_STORED: Final = 1000
MAX_SOURCE_ROWS: Final = 100_000


# ---------------------------------------------------------------------------------------------
# IR validation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    op: str | None
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    when: str | None = None


@dataclass
class CheckedIr:
    nodes: list[Node]
    edges: list[Edge]
    order: list[str]
    warnings: list[str] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


def _node_problems(i: int, raw: Any, seen: set[str]) -> list[str]:
    if not isinstance(raw, dict):
        return [f"nodes[{i}]: must be an object"]
    problems = []
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        problems.append(f"nodes[{i}].id: required string")
    elif node_id in seen:
        problems.append(f"nodes[{i}].id: duplicate {node_id!r}")
    else:
        seen.add(node_id)
    kind = raw.get("kind")
    if kind not in NODE_KINDS:
        problems.append(f"nodes[{i}].kind: one of {', '.join(NODE_KINDS)}")
    config = raw.get("config", {})
    if not isinstance(config, dict):
        return [*problems, f"nodes[{i}].config: must be an object"]
    if kind == "transform":
        problems += _transform_problems(i, raw.get("op") or config.get("op"), config)
    elif kind == "validate" and not _rules(config):
        problems.append(f"nodes[{i}].config.rules: at least one rule {{field, operator, value}}")
    elif kind == "branch" and not isinstance(config.get("condition"), dict):
        problems.append(f"nodes[{i}].config.condition: required {{field, operator, value}}")
    elif kind in ("join", "enrich") and not (isinstance(config.get("schemaId"), str) and config.get("key")):
        problems.append(f"nodes[{i}].config: schemaId and key are required")
    elif kind == "source" and "rows" in config and not _is_rows(config["rows"]):
        problems.append(f"nodes[{i}].config.rows: must be a list of objects")
    return problems


_REQUIRED: Final[Mapping[str, tuple[tuple[str, ...], ...]]] = {
    "cast": (("field", "to"), ("fields",)),
    "expression": (("field", "expression"),),
    "rename": (("from", "to"), ("mapping",)),
    "drop": (("fields",), ("field",)),
    "add_field": (("field", "value"),),
    "hash": (("fields",), ("field",)),
    "mask_pii": (("fields",), ("field",)),
    "map_values": (("field", "mapping"),),
    "split": (("field", "into"),),
    "merge": (("fields", "into"),),
    "filter": (("field", "operator"), ("condition",)),
    "deduplicate": (("keys",),),
    "aggregate": (("groupBy", "aggregations"),),
    "lookup_join": (("schemaId", "key"),),
    "summarize": (("aggregations",),),
}


def _transform_problems(i: int, op: Any, config: Mapping[str, Any]) -> list[str]:
    if op not in data.TRANSFORM_OPS:
        return [f"nodes[{i}].op: one of the 19 transform ops (see listTransformTypes)"]
    options = _REQUIRED.get(op, ())
    if options and not any(all(k in config for k in keys) for keys in options):
        wanted = " or ".join("{" + ", ".join(keys) + "}" for keys in options)
        return [f"nodes[{i}].config: {op} needs {wanted}"]
    if op == "expression" and (error := validate_formula(str(config["expression"]))):
        return [f"nodes[{i}].config.expression: {error}"]
    return []


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(r, dict) for r in value)


def _rules(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rules = config.get("rules")
    if isinstance(rules, list):
        return [r for r in rules if isinstance(r, dict)]
    return [config] if "field" in config else []


def _parse_edges(
    ir: Mapping[str, Any], ids: list[str], problems: list[str], warnings: list[str]
) -> list[Edge]:
    raw = ir.get("edges")
    if raw in (None, []):
        if len(ids) > 1:
            warnings.append("no edges given: nodes run as a chain in list order")
        return [Edge(a, b) for a, b in zip(ids, ids[1:], strict=False)]
    if not isinstance(raw, list):
        problems.append("edges: must be a list of {from, to}")
        return []
    edges = []
    for i, edge in enumerate(raw):
        src = edge.get("from", edge.get("source")) if isinstance(edge, dict) else None
        dst = edge.get("to", edge.get("target")) if isinstance(edge, dict) else None
        if src not in ids or dst not in ids:
            problems.append(f"edges[{i}]: from/to must name existing node ids")
        elif src == dst:
            problems.append(f"edges[{i}]: a node cannot feed itself")
        else:
            when = edge.get("when", edge.get("branch"))
            edges.append(Edge(str(src), str(dst), None if when is None else str(when).lower()))
    return edges


def _topological(ids: list[str], edges: list[Edge]) -> list[str] | None:
    """Kahn's algorithm keeping list order among ready nodes; None when there is a cycle."""
    incoming = {i: 0 for i in ids}
    for edge in edges:
        incoming[edge.target] += 1
    order: list[str] = []
    ready = [i for i in ids if incoming[i] == 0]
    while ready:
        current = ready.pop(0)
        order.append(current)
        for edge in edges:
            if edge.source == current:
                incoming[edge.target] -= 1
                if incoming[edge.target] == 0:
                    ready.append(edge.target)
    return order if len(order) == len(ids) else None


def validate_ir(ir: Any) -> CheckedIr:
    """Every structural problem at once (so a model fixes the IR in one round), or the checked IR."""
    problems: list[str] = []
    warnings: list[str] = []
    if not isinstance(ir, dict):
        raise ValidationError("ir must be an object", field="ir")
    if ir.get("kind") != "pipeline":
        problems.append('kind: must be "pipeline"')
    if str(ir.get("irVersion")) != IR_VERSION:
        problems.append(f'irVersion: must be "{IR_VERSION}"')
    raw_nodes = ir.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        problems.append("nodes: required non-empty list")
        raw_nodes = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        problems += _node_problems(i, raw, seen)
    nodes = [_node(raw) for raw in raw_nodes if isinstance(raw, dict) and raw.get("id") in seen]
    sources = [n.id for n in nodes if n.kind == "source"]
    if len(sources) != 1:
        problems.append(f"nodes: exactly one source node is required (found {len(sources)})")
    ids = [n.id for n in nodes]
    edges = _parse_edges(ir, ids, problems, warnings)
    if any(e.target in sources for e in edges):
        problems.append("edges: nothing may feed the source node")
    order = _topological(ids, edges) if not problems else []
    if order is None:
        problems.append("edges: the graph has a cycle")
    if problems:
        raise ValidationError("invalid pipeline IR: " + "; ".join(problems), field="ir", problems=problems)
    checked = CheckedIr(nodes, edges, order or [], warnings)
    _reachability_warnings(checked, sources[0])
    return checked


def _node(raw: Mapping[str, Any]) -> Node:
    config = dict(raw.get("config") or {})
    return Node(str(raw["id"]), str(raw["kind"]), raw.get("op") or config.get("op"), config)


def _reachability_warnings(ir: CheckedIr, source: str) -> None:
    reached = {source}
    for node_id in ir.order:
        if node_id in reached:
            reached.update(e.target for e in ir.edges if e.source == node_id)
    unreachable = [n for n in ir.order if n not in reached]
    if unreachable:
        ir.warnings.append(f"nodes not reachable from the source: {', '.join(unreachable)}")
    if not any(n.kind == "target" for n in ir.nodes):
        ir.warnings.append("no target node: runs will not write any rows")


# ---------------------------------------------------------------------------------------------
# Pipelines and versions
# ---------------------------------------------------------------------------------------------


def pipeline_out(pipe: Pipeline, warnings: Sequence[str] = ()) -> dict[str, Any]:
    out = pipe.to_dict()
    out.pop("tenantId", None)
    out.pop("deletedAt", None)
    if warnings:
        out["warnings"] = list(warnings)
    return out


async def create_pipeline(
    repo: Repository,
    *,
    name: str,
    connector_id: str,
    schema_id: str,
    ir: Mapping[str, Any],
    description: str = "",
) -> dict[str, Any]:
    await repo.get(Connector, connector_id)
    await repo.get(DataSchema, schema_id)
    checked = validate_ir(ir)
    if await repo.find(Pipeline, name=name) is not None:
        raise ConflictError(f"a pipeline named {name!r} already exists", field="name")
    pipe = await repo.create(
        Pipeline,
        {
            "name": name,
            "description": description,
            "connector_id": connector_id,
            "schema_id": schema_id,
            "ir_native": True,
            "ir": dict(ir),
            "ir_version": 1,
        },
    )
    await _version(repo, pipe, 1, "created")
    return pipeline_out(pipe, checked.warnings)


async def _version(repo: Repository, pipe: Pipeline, version: int, comment: str) -> PipelineVersion:
    return await repo.create(
        PipelineVersion,
        {
            "pipeline_id": pipe.id,
            "version": version,
            "ir": dict(pipe.ir),
            "authored_by": repo.ctx.actor,
            "comment": comment,
        },
    )


async def get_ir(repo: Repository, pipeline_id: str, version: int | None = None) -> dict[str, Any]:
    pipe = await repo.get(Pipeline, pipeline_id)
    if not pipe.ir_native:
        raise ConflictError(
            f"pipeline {pipe.name} is a legacy node/edge pipeline; save it once with updateFlowPipeline "
            "to promote it to IR",
            field="pipelineId",
        )
    if version is None or version == pipe.ir_version:
        return {"pipelineId": pipe.id, "version": pipe.ir_version, "ir": pipe.ir}
    found = await repo.find(PipelineVersion, pipeline_id=pipe.id, version=version)
    if found is None:
        raise NotFoundError(f"pipeline {pipe.name} has no IR version {version}", field="version")
    return {"pipelineId": pipe.id, "version": found.version, "ir": found.ir}


async def update_pipeline(
    repo: Repository, pipeline_id: str, ir: Mapping[str, Any], comment: str = ""
) -> dict[str, Any]:
    """Save a new IR version; the first save of a legacy pipeline promotes it to IR-native."""
    pipe = await repo.get(Pipeline, pipeline_id)
    checked = validate_ir(ir)
    promoted = not pipe.ir_native
    version = (pipe.ir_version or 0) + 1
    pipe = await repo.update(Pipeline, pipe, {"ir": dict(ir), "ir_version": version, "ir_native": True})
    await _version(repo, pipe, version, comment or ("promoted to IR" if promoted else ""))
    return {**pipeline_out(pipe, checked.warnings), "promoted": promoted}


async def list_versions(repo: Repository, pipeline_id: str) -> dict[str, Any]:
    pipe = await repo.get(Pipeline, pipeline_id)
    rows = await repo.all(
        PipelineVersion, PipelineVersion.pipeline_id == pipe.id, order_by=PipelineVersion.version.desc()
    )
    items = [
        {
            "version": v.version,
            "authoredBy": v.authored_by,
            "comment": v.comment,
            "createdAt": v.to_dict()["createdAt"],
            "nodeCount": len(v.ir.get("nodes") or []),
        }
        for v in rows
    ]
    return {"pipelineId": pipe.id, "currentVersion": pipe.ir_version, "items": items}


# ---------------------------------------------------------------------------------------------
# Executor
# ---------------------------------------------------------------------------------------------


class NodeFailure(Exception):
    """A node that cannot run at all (not a row problem): the run fails and writes nothing."""

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id


@dataclass
class Dlq:
    """Quarantined rows with the node and rule that caught them (stored up to a cap, all counted)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, node_id: str, rule: str, message: str, row: Mapping[str, Any]) -> None:
        self.count += 1
        if len(self.entries) < MAX_DLQ_STORED:
            self.entries.append({"nodeId": node_id, "rule": rule, "message": message, "row": dict(row)})


Transform = Callable[[list[Row], Mapping[str, Any], Dlq, str], list[Row]]


def _fields(config: Mapping[str, Any]) -> list[str]:
    raw = config.get("fields", config.get("field"))
    return [str(f) for f in (raw if isinstance(raw, list) else [raw]) if f is not None]


_CASTS: Final[Mapping[str, str]] = {
    "integer": "integer",
    "int": "integer",
    "number": "number",
    "float": "number",
    "decimal": "number",
    "string": "varchar",
    "text": "varchar",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "json": "json",
}


def _cast_value(value: Any, to: str) -> Any:
    data_type = _CASTS.get(to.lower())
    if data_type is None:
        raise ValueError(f"unknown cast type {to!r}")
    return data.coerce_value(_CastField(data_type), value)


@dataclass
class _CastField:
    """Just enough of a SchemaField for ``data.coerce_value``."""

    data_type: str
    length: int | None = None
    scale: int | None = None


def _t_cast(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    targets = dict(config.get("fields") or {}) if "fields" in config else {config["field"]: config["to"]}
    out = []
    for row in rows:
        try:
            out.append(
                {**row, **{f: _cast_value(row.get(f), str(t)) for f, t in targets.items() if f in row}}
            )
        except (ValueError, TypeError) as exc:
            dlq.add(node_id, "cast", f"cast failed: {exc}", row)
    return out


def _t_rename(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    mapping = dict(config.get("mapping") or {config.get("from"): config.get("to")})
    return [{mapping.get(k, k): v for k, v in row.items()} for row in rows]


def _t_drop(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    drop = set(_fields(config))
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


def _t_add_field(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    return [{**row, config["field"]: config["value"]} for row in rows]


def _t_expression(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    expression = str(config["expression"])
    return [{**row, config["field"]: evaluate_formula(expression, row)} for row in rows]


def _t_hash(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    algorithm = str(config.get("algorithm", "sha256")).lower()
    if algorithm not in ("sha256", "sha1", "md5", "sha512"):
        raise NodeFailure(node_id, f"unsupported hash algorithm {algorithm!r}")
    salt = str(config.get("salt", ""))

    def digest(value: Any) -> Any:
        return None if value is None else hashlib.new(algorithm, (salt + str(value)).encode()).hexdigest()

    names = _fields(config)
    return [{**row, **{f: digest(row[f]) for f in names if f in row}} for row in rows]


def mask_value(value: Any, strategy: str = "mask", keep_last: int = 4) -> Any:
    """``mask`` keeps an email's first letter + domain, or the last characters; ``redact`` hides all."""
    if value is None:
        return None
    text = str(value)
    if strategy == "redact":
        return "[REDACTED]"
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    keep = min(keep_last, len(text) // 2)
    return "*" * (len(text) - keep) + text[len(text) - keep :]


def _t_mask_pii(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    strategy = str(config.get("strategy", "mask"))
    keep = int(config.get("keepLast", 4))
    names = _fields(config)
    return [{**row, **{f: mask_value(row[f], strategy, keep) for f in names if f in row}} for row in rows]


def _t_map_values(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    name, mapping = config["field"], {str(k): v for k, v in dict(config["mapping"]).items()}
    has_default = "default" in config

    def mapped(value: Any) -> Any:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        if key in mapping:
            return mapping[key]
        return config["default"] if has_default else value

    return [{**row, name: mapped(row.get(name))} if name in row else row for row in rows]


def _t_split(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    into = [str(n) for n in config["into"]]
    delimiter = str(config.get("delimiter", ","))
    out = []
    for row in rows:
        value = row.get(config["field"])
        parts = [] if value is None else [p.strip() for p in str(value).split(delimiter, len(into) - 1)]
        out.append({**row, **{n: parts[i] if i < len(parts) else None for i, n in enumerate(into)}})
    return out


def _t_merge(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    names, separator = _fields(config), str(config.get("separator", " "))
    return [
        {**row, config["into"]: separator.join(str(row[f]) for f in names if row.get(f) is not None)}
        for row in rows
    ]


def _condition(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["condition"] if isinstance(config.get("condition"), dict) else config


def _t_filter(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    condition = _condition(config)
    return [row for row in rows if evaluate_tree(condition, row)]


def _t_deduplicate(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    keys = [str(k) for k in config["keys"]]
    seen: set[str] = set()
    out = []
    for row in rows:
        marker = data.KEY_SEPARATOR.join(repr(row.get(k)) for k in keys)
        if marker not in seen:
            seen.add(marker)
            out.append(row)
    return out


def _aggregate(rows: list[Row], spec: Mapping[str, Any]) -> Any:
    fn = str(spec.get("fn", "count"))
    values = [row.get(spec["field"]) for row in rows] if spec.get("field") else [1] * len(rows)
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if fn == "count":
        return sum(1 for v in values if v is not None)
    if fn == "count_distinct":
        return len({repr(v) for v in values if v is not None})
    if not numbers:
        return None
    table: dict[str, Callable[[list[float]], float]] = {
        "sum": sum,
        "avg": lambda xs: sum(xs) / len(xs),
        "min": min,
        "max": max,
    }
    if fn not in table:
        raise ValueError(f"unknown aggregation {fn!r}")
    return table[fn](numbers)


def _aggregations(rows: list[Row], config: Mapping[str, Any], node_id: str) -> Row:
    out: Row = {}
    for spec in config["aggregations"]:
        name = spec.get("as") or f"{spec.get('fn', 'count')}_{spec.get('field', 'rows')}"
        try:
            out[name] = _aggregate(rows, spec)
        except (ValueError, KeyError) as exc:
            raise NodeFailure(node_id, f"aggregation {name}: {exc}") from None
    return out


def _t_aggregate(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    keys = [str(k) for k in config["groupBy"]]
    groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    firsts: dict[tuple[str, ...], Row] = {}
    for row in rows:
        marker = tuple(repr(row.get(k)) for k in keys)
        groups[marker].append(row)
        firsts.setdefault(marker, {k: row.get(k) for k in keys})
    return [{**firsts[m], **_aggregations(group, config, node_id)} for m, group in groups.items()]


def _t_summarize(rows: list[Row], config: Mapping[str, Any], dlq: Dlq, node_id: str) -> list[Row]:
    return [_aggregations(rows, config, node_id)]


TRANSFORMS: Final[Mapping[str, Transform]] = {
    "cast": _t_cast,
    "rename": _t_rename,
    "drop": _t_drop,
    "add_field": _t_add_field,
    "expression": _t_expression,
    "hash": _t_hash,
    "mask_pii": _t_mask_pii,
    "map_values": _t_map_values,
    "split": _t_split,
    "merge": _t_merge,
    "filter": _t_filter,
    "deduplicate": _t_deduplicate,
    "aggregate": _t_aggregate,
    "summarize": _t_summarize,
}


def _rule_label(rule: Mapping[str, Any]) -> str:
    if rule.get("name"):
        return str(rule["name"])
    value = rule.get("value")
    suffix = "" if value is None else f" {value}"
    return f"{rule.get('field')} {rule.get('operator', 'exists')}{suffix}"


def _validate(rows: list[Row], node: Node, dlq: Dlq) -> list[Row]:
    rules = [{"operator": "exists", **r} for r in _rules(node.config)]
    on_fail = str(node.config.get("onFail", "quarantine"))
    out = []
    for row in rows:
        broken = next((r for r in rules if not evaluate_tree(r, row)), None)
        if broken is None:
            out.append(row)
        elif on_fail == "fail":
            raise NodeFailure(node.id, f"row failed rule {_rule_label(broken)!r} and onFail is fail")
        elif on_fail != "drop":
            dlq.add(node.id, _rule_label(broken), f"row failed {_rule_label(broken)}", row)
    return out


@dataclass
class TargetWrite:
    node_id: str
    schema: DataSchema
    rows: list[tuple[str, Row]] = field(default_factory=list)
    mode: str = "upsert"


@dataclass
class RunOutcome:
    status: str
    rows_read: int
    rows_written: int
    dlq: Dlq
    log: list[dict[str, Any]]
    failure: dict[str, Any] | None = None


class Executor:
    """Runs one checked IR against the tenant's data; see the module docstring for the contract."""

    def __init__(self, repo: Repository, pipe: Pipeline, ir: CheckedIr) -> None:
        self.repo = repo
        self.pipe = pipe
        self.ir = ir
        self.dlq = Dlq()
        self.log: list[dict[str, Any]] = []
        self.targets: list[TargetWrite] = []
        self.rows_read = 0

    async def run(self, seed: Mapping[str, list[Row]] | None = None) -> RunOutcome:
        """Execute from the source, or from ``seed`` (rows injected at given nodes, for DLQ replay)."""
        inbox: dict[str, list[Row]] = defaultdict(list)
        try:
            if seed is None:
                source = next(n for n in self.ir.nodes if n.kind == "source")
                inbox[source.id] = await self._source_rows(source)
                self.rows_read = len(inbox[source.id])
            else:
                for node_id, rows in seed.items():
                    inbox[node_id].extend(rows)
                    self.rows_read += len(rows)
            skip_sources = seed is not None
            for node_id in self.ir.order:
                node = self.ir.node(node_id)
                if skip_sources and node.kind == "source":
                    continue
                await self._step(node, inbox)
            written = await self._write_targets()
        except NodeFailure as exc:
            failure = {"nodeId": exc.node_id, "rule": "node_failure", "message": str(exc)}
            self.log.append({"event": "failed", **failure})
            return RunOutcome("failed", self.rows_read, 0, self.dlq, self.log, failure)
        status = "completed_with_errors" if self.dlq.count else "completed"
        return RunOutcome(status, self.rows_read, written, self.dlq, self.log)

    async def _step(self, node: Node, inbox: dict[str, list[Row]]) -> None:
        rows = inbox.pop(node.id, [])
        before = self.dlq.count
        started = time.perf_counter()
        outputs = await self._apply(node, rows)
        sent = 0
        for edge in (e for e in self.ir.edges if e.source == node.id):
            chosen = outputs.get(edge.when or "*", outputs["*"])
            inbox[edge.target].extend(chosen)
            sent = max(sent, len(chosen))
        self.log.append(
            {
                "nodeId": node.id,
                "kind": node.kind,
                "op": node.op,
                "rowsIn": len(rows),
                "rowsOut": len(outputs["*"]),
                "rowsFailed": self.dlq.count - before,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            }
        )

    async def _apply(self, node: Node, rows: list[Row]) -> dict[str, list[Row]]:
        """``{"*": rows}`` for every node; branch nodes add ``"true"``/``"false"`` outputs."""
        if node.kind == "source":
            return {"*": rows}
        if node.kind == "transform":
            return {"*": await self._transform(node, rows)}
        if node.kind == "validate":
            return {"*": _validate(rows, node, self.dlq)}
        if node.kind in ("join", "enrich"):
            return {"*": await self._lookup(node, node.config, rows, inner=node.kind == "join")}
        if node.kind == "branch":
            condition = _condition(node.config)
            yes = [r for r in rows if evaluate_tree(condition, r)]
            no = [r for r in rows if not evaluate_tree(condition, r)]
            return {"*": rows, "true": yes, "false": no}
        if node.kind == "target":
            await self._collect_target(node, rows)
        return {"*": rows}  # archive: a sink that keeps counts only

    async def _transform(self, node: Node, rows: list[Row]) -> list[Row]:
        op = str(node.op)
        if op == "lookup_join":
            return await self._lookup(
                node, node.config, rows, inner=str(node.config.get("joinType")) == "inner"
            )
        fn = TRANSFORMS.get(op)
        if fn is None:
            raise NodeFailure(
                node.id, f"transform op {op} needs an external service and cannot run in-process"
            )
        try:
            return fn(rows, node.config, self.dlq, node.id)
        except (KeyError, TypeError, ValueError) as exc:
            raise NodeFailure(node.id, f"{op}: bad config ({exc.__class__.__name__}: {exc})") from None

    async def _schema(self, node_id: str, schema_id: Any) -> DataSchema:
        try:
            return await self.repo.get(DataSchema, str(schema_id))
        except NotFoundError:
            raise NodeFailure(node_id, f"schema {schema_id!r} not found") from None

    async def _schema_rows(self, schema: DataSchema) -> list[SchemaRow]:
        stmt = (
            self.repo.scoped(SchemaRow)
            .where(SchemaRow.schema_id == schema.id)
            .order_by(SchemaRow.row_key)
            .limit(MAX_SOURCE_ROWS)
        )
        return list((await self.repo.session.execute(stmt)).scalars().all())

    async def _source_rows(self, node: Node) -> list[Row]:
        config = node.config
        if _is_rows(config.get("rows")):
            rows = [dict(r) for r in config["rows"]]
        elif config.get("schemaId"):
            schema = await self._schema(node.id, config["schemaId"])
            rows = [dict(r.data) for r in await self._schema_rows(schema)]
        else:
            raise NodeFailure(
                node.id,
                "source has no rows available in-process: set source.config.rows (inline) or "
                "source.config.schemaId (an existing schema); live connector reads are not run here",
            )
        limit = config.get("limit")
        return rows[: int(limit)] if isinstance(limit, int) and limit > 0 else rows

    async def _lookup(self, node: Node, config: Mapping[str, Any], rows: list[Row], inner: bool) -> list[Row]:
        schema = await self._schema(node.id, config.get("schemaId"))
        lookup_key = config.get("lookupKey")
        table: dict[str, Row] = {}
        for stored in await self._schema_rows(schema):
            key = stored.row_key if lookup_key is None else stored.data.get(str(lookup_key))
            if key is not None:
                table.setdefault(str(key), dict(stored.data))
        wanted = config.get("fields")
        prefix = str(config.get("prefix", ""))
        out = []
        for row in rows:
            match = table.get(str(row.get(str(config.get("key")))))
            if match is None:
                if not inner:
                    out.append(row)
                continue
            extra = {f"{prefix}{k}": v for k, v in match.items() if wanted is None or k in wanted}
            out.append({**extra, **row} if config.get("keepExisting", True) else {**row, **extra})
        return out

    async def _collect_target(self, node: Node, rows: list[Row]) -> None:
        schema_id = node.config.get("schemaId") or self.pipe.schema_id
        if not schema_id:
            raise NodeFailure(node.id, "the pipeline has no schema to write to")
        schema = await self._schema(node.id, schema_id)
        fields = (await data.schema_fields(self.repo, [schema.id]))[schema.id]
        surrogate = data.primary_key_fields(schema) == [data.SURROGATE_KEY]
        keep = {f.name for f in fields} | ({data.SURROGATE_KEY} if surrogate else set())
        strict = node.config.get("unknownFields") == "error"
        write = TargetWrite(node.id, schema, mode=str(node.config.get("mode", "upsert")))
        for row in rows:
            try:
                clean = data.coerce_row(
                    fields, row if strict else {k: v for k, v in row.items() if k in keep}, surrogate
                )
            except ValueError as exc:
                self.dlq.add(node.id, f"schema:{schema.name}", str(exc), row)
                continue
            write.rows.append((data.row_key(schema, clean), clean))
        self.targets.append(write)

    async def _write_targets(self) -> int:
        written = 0
        for target in self.targets:
            if target.mode == "insert":
                taken = await data.existing_keys(self.repo, target.schema.id, {k for k, _ in target.rows})
                fresh = [(k, r) for k, r in target.rows if k not in taken]
                self.log.append(
                    {
                        "nodeId": target.node_id,
                        "event": "skipped_existing",
                        "rows": len(target.rows) - len(fresh),
                    }
                )
                target.rows = fresh
            written += await data.upsert_rows(self.repo, target.schema, target.rows)
        return written


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------


def run_out(run: PipelineRun, errors: int | None = 20) -> dict[str, Any]:
    out = run.to_dict()
    out.pop("tenantId", None)
    out["errors"] = run.errors[:errors] if errors is not None else run.errors
    out["irVersion"] = next((e.get("irVersion") for e in run.log if e.get("event") == "start"), None)
    return out


async def _ir_for(repo: Repository, pipe: Pipeline, version: int | None) -> tuple[int, Mapping[str, Any]]:
    if not pipe.ir_native:
        raise ConflictError(f"pipeline {pipe.name} is legacy; promote it with updateFlowPipeline first")
    if version is None or version == pipe.ir_version:
        return pipe.ir_version, pipe.ir
    found = await repo.find(PipelineVersion, pipeline_id=pipe.id, version=version)
    if found is None:
        return pipe.ir_version, pipe.ir
    return found.version, found.ir


async def _record_run(
    repo: Repository,
    pipe: Pipeline,
    outcome: RunOutcome,
    start_event: dict[str, Any],
    started: Any,
    replay_of: str | None,
) -> PipelineRun:
    errors = [outcome.failure] if outcome.failure else outcome.dlq.entries
    run = await repo.create(
        PipelineRun,
        {
            "pipeline_id": pipe.id,
            "status": outcome.status,
            "rows_read": outcome.rows_read,
            "rows_written": outcome.rows_written,
            "rows_failed": outcome.dlq.count,
            "errors": errors,
            "log": [start_event, *outcome.log],
            "replay_of": replay_of,
            "started_at": started,
            "finished_at": utcnow(),
        },
    )
    await repo.update(Pipeline, pipe, {"last_run_status": outcome.status}, audit_action="run")
    return run


async def run_pipeline(
    repo: Repository,
    pipeline_id: str,
    *,
    replay_dlq_only: bool = False,
    version: int | None = None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    """Execute the pipeline now; returns the finished run (status, counts, first errors)."""
    pipe = await repo.get(Pipeline, pipeline_id)
    used_version, raw_ir = await _ir_for(repo, pipe, version)
    checked = validate_ir(raw_ir)
    seed = await _dlq_seed(repo, pipe, checked) if replay_dlq_only else None
    started = utcnow()
    outcome = await Executor(repo, pipe, checked).run(seed)
    start_event = {"event": "start", "irVersion": used_version, "replayDlqOnly": replay_dlq_only}
    run = await _record_run(repo, pipe, outcome, start_event, started, replay_of)
    return run_out(run)


async def _dlq_seed(repo: Repository, pipe: Pipeline, ir: CheckedIr) -> dict[str, list[Row]]:
    """Quarantined rows of the latest run that had any, re-entering at the node that caught them."""
    stmt = (
        repo.scoped(PipelineRun)
        .where(PipelineRun.pipeline_id == pipe.id, PipelineRun.rows_failed > 0)
        .order_by(PipelineRun.created_at.desc(), PipelineRun.id)
        .limit(1)
    )
    last = (await repo.session.execute(stmt)).scalar_one_or_none()
    if last is None:
        raise ValidationError("no earlier run has quarantined rows to replay", field="replayDlqOnly")
    ids = {n.id for n in ir.nodes}
    seed: dict[str, list[Row]] = defaultdict(list)
    for entry in last.errors:
        if isinstance(entry.get("row"), dict) and entry.get("nodeId") in ids:
            seed[str(entry["nodeId"])].append(dict(entry["row"]))
    return seed


async def replay_run(repo: Repository, run_id: str) -> dict[str, Any]:
    """Re-execute an earlier run as a new run, with the IR version that run used."""
    original = await repo.get(PipelineRun, run_id)
    version = next((e.get("irVersion") for e in original.log if e.get("event") == "start"), None)
    return await run_pipeline(repo, original.pipeline_id, version=version, replay_of=original.id)


async def list_runs(
    repo: Repository, pipeline_id: str | None = None, status: str | None = None, limit: int = 20
) -> dict[str, Any]:
    where = []
    if pipeline_id:
        await repo.get(Pipeline, pipeline_id)
        where.append(PipelineRun.pipeline_id == pipeline_id)
    if status:
        where.append(PipelineRun.status == status)
    page = await repo.page(PipelineRun, *where, limit=limit)
    items = []
    for run in page.items:
        summary = run_out(run, errors=0)
        summary.pop("errors")
        summary.pop("log")
        items.append(summary)
    return page.to_dict(items)


async def run_progress(repo: Repository, pipeline_id: str, run_id: str) -> dict[str, Any]:
    run = await repo.get(PipelineRun, run_id)
    if run.pipeline_id != pipeline_id:
        raise NotFoundError(f"run {run_id!r} does not belong to pipeline {pipeline_id!r}", field="runId")
    finished = run.status in ("completed", "failed", "completed_with_errors")
    return {
        "pipelineId": pipeline_id,
        "runId": run.id,
        "status": run.status,
        "rowsRead": run.rows_read,
        "rowsWritten": run.rows_written,
        "rowsFailed": run.rows_failed,
        "percent": 100 if finished else 0,
        "partitions": {"total": 1, "done": 1 if finished else 0},
        "etaSeconds": 0 if finished else None,
        "errors": run.errors[:20],
        "log": run.log,
    }


async def run_errors(
    repo: Repository, run_id: str, node_id: str | None = None, limit: int = 50
) -> dict[str, Any]:
    run = await repo.get(PipelineRun, run_id)
    entries = [e for e in run.errors if node_id is None or e.get("nodeId") == node_id]
    by_node: dict[str, int] = defaultdict(int)
    by_rule: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_node[str(entry.get("nodeId"))] += 1
        by_rule[str(entry.get("rule"))] += 1
    return {
        "runId": run.id,
        "status": run.status,
        "rowsFailed": run.rows_failed,
        "stored": len(entries),
        "byNode": dict(by_node),
        "byRule": dict(by_rule),
        "sample": entries[:limit],
    }


# ---------------------------------------------------------------------------------------------
# Connector test-fire and scoring
# ---------------------------------------------------------------------------------------------


def _auth_headers(repo: Repository, connector: Connector) -> dict[str, str]:
    """Headers for a YAML connector's declared auth, from its encrypted credentials."""
    auth = (connector.spec or {}).get("auth") or {}
    secrets = (
        repo.box.decrypt_json(connector.auth_config_encrypted)
        if repo.box and connector.auth_config_encrypted
        else {}
    )
    kind = auth.get("type", "none")
    if kind == "api_key" and secrets.get("apiKey"):
        return {str(auth.get("header", "X-API-Key")): str(secrets["apiKey"])}
    token = secrets.get("token") or secrets.get("accessToken")
    if kind in ("bearer", "oauth2") and token:
        return {"Authorization": f"Bearer {token}"}
    return {}


def _sample(body: Any, records_path: str | None) -> list[Any]:
    if records_path and isinstance(body, dict):
        for part in records_path.split("."):
            body = body.get(part) if isinstance(body, dict) else None
    if isinstance(body, dict):
        body = next(
            (body[k] for k in ("items", "data", "results", "records") if isinstance(body.get(k), list)),
            [body],
        )
    return list(body)[:5] if isinstance(body, list) else []


async def test_flow_connector(
    repo: Repository,
    connector_id: str,
    endpoint_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    allow_public: bool = False,
) -> dict[str, Any]:
    """Fire a YAML connector endpoint (GET only) for reachability and a sample; built-ins get a probe."""
    connector = await repo.get(Connector, connector_id)
    endpoints = (connector.spec or {}).get("endpoints") or []
    if not endpoints:
        result = await data.test_connector(repo, connector_id, allow_public)
        return {**result, "endpointId": None, "sample": [], "reachable": result["status"] == "ok"}
    endpoint = (
        next((e for e in endpoints if e.get("id") == endpoint_id), None) if endpoint_id else endpoints[0]
    )
    if endpoint is None:
        raise NotFoundError(f"connector {connector.name} has no endpoint {endpoint_id!r}", field="endpointId")
    method = str(endpoint.get("method", "GET")).upper()
    url = str(connector.spec.get("baseUrl", "")).rstrip("/") + str(endpoint["path"])
    if method not in ("GET", "HEAD"):
        outcome, response = data.probe_result("skipped", url, f"{method} endpoints are not test-fired"), None
    else:
        outcome, response = await data.http_request(
            method, url, allow_public, params, headers=_auth_headers(repo, connector)
        )
    sample: list[Any] = []
    if response is not None and method == "GET":
        try:
            sample = _sample(response.json(), endpoint.get("recordsPath"))
        except ValueError:
            sample = []
    await repo.update(
        Connector,
        connector,
        {
            "last_test_status": outcome["status"],
            "last_test_at": utcnow(),
            "last_test_latency_ms": outcome["latencyMs"],
        },
        audit_action="test",
    )
    return {
        "connectorId": connector.id,
        "endpointId": endpoint.get("id"),
        "reachable": response is not None,
        "httpStatus": None if response is None else response.status_code,
        "sample": sample,
        **outcome,
    }


async def customer_features(repo: Repository, customer_id: str) -> dict[str, Any]:
    """The customer's rows across customer schemas, flat and under ``customer.``."""
    stmt = select_customer_rows(repo).where(SchemaRow.row_key == customer_id).order_by(DataSchema.name)
    rows = (await repo.session.execute(stmt)).scalars().all()
    merged: dict[str, Any] = {}
    for row in rows:
        merged.update(row.data)
    return merged


def select_customer_rows(repo: Repository) -> Any:
    return (
        repo.scoped(SchemaRow)
        .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
        .where(DataSchema.entity_type == "customer", DataSchema.deleted_at.is_(None))
    )


async def score_customer(
    repo: Repository,
    model_id: str,
    customer_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    offer_id: str | None = None,
) -> dict[str, Any]:
    """Score one customer with a model's scorer; features = customer rows overlaid by ``attributes``."""
    from kaireon_mcp.core.models import get_model_spec

    if not customer_id and not attributes:
        raise ValidationError("give customerId, attributes, or both", field="customerId")
    model = await repo.get(AlgorithmModel, model_id)
    stored = await customer_features(repo, customer_id) if customer_id else {}
    if customer_id and not stored and not attributes:
        raise NotFoundError(
            f"customer {customer_id!r} has no rows in any customer schema", field="customerId"
        )
    features = {**stored, **dict(attributes or {})}
    features["customer"] = dict(features)
    spec = get_model_spec(model.model_type)
    rng = random.Random(f"{model.id}:{customer_id}:{offer_id}")
    try:
        result = spec.score(model.config or {}, model.model_state or {}, features, offer_id, rng)
    except KaireonError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError(
            f"model {model.key} cannot score these features: {exc}", field="modelId"
        ) from None
    return {
        "modelId": model.id,
        "modelKey": model.key,
        "modelType": model.model_type,
        "customerId": customer_id,
        "offerId": offer_id,
        "featuresUsed": len(features) - 1,
        **result.to_dict(),
        "explanations": result.to_dict()["explanations"][:10],
    }
