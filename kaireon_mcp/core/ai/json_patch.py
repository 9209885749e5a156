"""RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over plain JSON values.

Used for Pipeline Mode IR patches; the input document is never mutated, and every
failure names the offending operation as ``patch[i]``.
"""

from __future__ import annotations

import copy
from typing import Any

from kaireon_mcp.errors import ValidationError

__all__ = ["OPS", "apply_patch"]

OPS = ("add", "remove", "replace", "move", "copy", "test")


def _tokens(pointer: str, where: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValidationError(f"{where}: path {pointer!r} must start with '/'", field=where)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, where: str, *, append: bool = False) -> int:
    if append and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise ValidationError(f"{where}: {token!r} is not an array index", field=where)
    index = int(token)
    limit = len(container) if append else len(container) - 1
    if index > limit:
        raise ValidationError(f"{where}: index {index} is out of range", field=where)
    return index


def _parent(doc: Any, tokens: list[str], where: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, where)
    return node


def _child(node: Any, token: str, where: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise ValidationError(f"{where}: path segment {token!r} does not exist", field=where)
        return node[token]
    if isinstance(node, list):
        return node[_index(node, token, where)]
    raise ValidationError(f"{where}: cannot descend into a scalar at {token!r}", field=where)


def _get(doc: Any, pointer: str, where: str) -> Any:
    node = doc
    for token in _tokens(pointer, where):
        node = _child(node, token, where)
    return node


def _add(doc: Any, pointer: str, value: Any, where: str) -> Any:
    tokens = _tokens(pointer, where)
    if not tokens:
        return value
    parent = _parent(doc, tokens, where)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], where, append=True), value)
    else:
        raise ValidationError(f"{where}: cannot add to a scalar", field=where)
    return doc


def _remove(doc: Any, pointer: str, where: str) -> tuple[Any, Any]:
    tokens = _tokens(pointer, where)
    if not tokens:
        raise ValidationError(f"{where}: cannot remove the whole document", field=where)
    parent = _parent(doc, tokens, where)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise ValidationError(f"{where}: path {pointer!r} does not exist", field=where)
        return doc, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, tokens[-1], where))
    raise ValidationError(f"{where}: cannot remove from a scalar", field=where)


def _one(doc: Any, op: Any, where: str) -> Any:
    if not isinstance(op, dict) or op.get("op") not in OPS or not isinstance(op.get("path"), str):
        raise ValidationError(
            f"{where}: each operation needs op ({', '.join(OPS)}) and a string path", field=where
        )
    kind, path = op["op"], op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise ValidationError(f"{where}: {kind} needs a value", field=where)
    if kind in ("move", "copy") and not isinstance(op.get("from"), str):
        raise ValidationError(f"{where}: {kind} needs a string from", field=where)
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]), where)
    if kind == "remove":
        return _remove(doc, path, where)[0]
    if kind == "replace":
        _get(doc, path, where)
        return (
            _add(_remove(doc, path, where)[0], path, copy.deepcopy(op["value"]), where)
            if path
            else op["value"]
        )
    if kind == "test":
        if _get(doc, path, where) != op["value"]:
            raise ValidationError(f"{where}: test failed at {path!r}", field=where)
        return doc
    if kind == "move":
        if path.startswith(op["from"] + "/"):
            raise ValidationError(f"{where}: cannot move a value into itself", field=where)
        doc, value = _remove(doc, op["from"], where)
        return _add(doc, path, value, where)
    return _add(doc, path, copy.deepcopy(_get(doc, op["from"], where)), where)


def apply_patch(document: Any, patch: Any) -> Any:
    """Apply all operations in order to a copy of ``document``.

    Raises:
        ValidationError: malformed patch, missing path, or a failed ``test``.
    """
    if not isinstance(patch, list) or not patch:
        raise ValidationError("patch must be a non-empty array of operations", field="patch")
    doc = copy.deepcopy(document)
    for index, op in enumerate(patch):
        doc = _one(doc, op, f"patch[{index}]")
    return doc
