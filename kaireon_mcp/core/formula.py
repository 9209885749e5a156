"""Formula engine for computed fields (spec §9): tokenizer → recursive-descent parser → evaluator.

No host ``eval``. Evaluation never raises into a decision: any parse or runtime error,
including division by zero, yields ``None``. Parsing errors are available separately
(:func:`validate_formula`) so write-time validation can report them.

Grammar, lowest precedence first::

    ternary  := or ('?' ternary ':' ternary)?
    or       := and ('||' and)*
    and      := compare ('&&' compare)*
    compare  := additive (('=='|'!='|'<'|'<='|'>'|'>=') additive)*
    additive := term (('+'|'-') term)*
    term     := unary (('*'|'/'|'%') unary)*
    unary    := ('-'|'+'|'!') unary | primary
    primary  := number | string | true | false | null | call | identifier | '(' ternary ')'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final

from kaireon_mcp.core.operators import resolve_field
from kaireon_mcp.errors import ValidationError

Value = float | int | str | bool | None
MAX_LENGTH: Final = 4000
_TWO_CHAR: Final = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_ONE_CHAR: Final = frozenset("+-*/%<>()?:,!")


class FormulaError(ValidationError):
    """A formula that cannot be tokenized or parsed (a 400 at write time)."""


class _EvalError(Exception):
    """Runtime failure inside evaluation; converted to ``None`` at the public boundary."""


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | name | op | end
    text: str
    value: Value
    position: int


def _read_number(source: str, start: int) -> tuple[Token, int]:
    index = start
    while index < len(source) and (source[index].isdigit() or source[index] == "."):
        index += 1
    if index < len(source) and source[index] in "eE":
        probe = index + 1
        if probe < len(source) and source[probe] in "+-":
            probe += 1
        if probe < len(source) and source[probe].isdigit():
            index = probe
            while index < len(source) and source[index].isdigit():
                index += 1
    text = source[start:index]
    try:
        value: float | int = int(text) if text.isdigit() else float(text)
    except ValueError as exc:
        raise FormulaError(f"Invalid number {text!r} at {start}", field="formula") from exc
    return Token("number", text, value, start), index


_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _read_string(source: str, start: int) -> tuple[Token, int]:
    quote = source[start]
    chars: list[str] = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            chars.append(_ESCAPES.get(source[index + 1], source[index + 1]))
            index += 2
            continue
        if char == quote:
            return Token("string", source[start : index + 1], "".join(chars), start), index + 1
        chars.append(char)
        index += 1
    raise FormulaError(f"Unterminated string at {start}", field="formula")


def _read_name(source: str, start: int) -> tuple[Token, int]:
    index = start
    while index < len(source) and (source[index].isalnum() or source[index] in "_."):
        index += 1
    text = source[start:index]
    return Token("name", text, text, start), index


def tokenize(source: str) -> list[Token]:
    """Split a formula into tokens; dotted identifiers (``customer.age``) are one token."""
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"Formula longer than {MAX_LENGTH} characters", field="formula")
    tokens: list[Token] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char.isspace():
            index += 1
        elif char.isdigit() or (char == "." and source[index + 1 : index + 2].isdigit()):
            token, index = _read_number(source, index)
            tokens.append(token)
        elif char in "'\"":
            token, index = _read_string(source, index)
            tokens.append(token)
        elif char.isalpha() or char == "_":
            token, index = _read_name(source, index)
            tokens.append(token)
        elif source[index : index + 2] in _TWO_CHAR:
            tokens.append(Token("op", source[index : index + 2], None, index))
            index += 2
        elif char in _ONE_CHAR:
            tokens.append(Token("op", char, None, index))
            index += 1
        else:
            raise FormulaError(f"Unexpected character {char!r} at {index}", field="formula")
    tokens.append(Token("end", "", None, len(source)))
    return tokens


@dataclass(frozen=True)
class Literal:
    value: Value


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Ternary:
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


Node = Literal | Name | Unary | Binary | Ternary | Call
_KEYWORDS: Final[Mapping[str, Value]] = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def _accept(self, *ops: str) -> str | None:
        token = self.current
        if token.kind == "op" and token.text in ops:
            self.index += 1
            return token.text
        return None

    def _expect(self, op: str) -> None:
        if self._accept(op) is None:
            raise FormulaError(f"Expected {op!r} at {self.current.position}", field="formula")

    def parse(self) -> Node:
        node = self.ternary()
        if self.current.kind != "end":
            raise FormulaError(
                f"Unexpected {self.current.text!r} at {self.current.position}", field="formula"
            )
        return node

    def ternary(self) -> Node:
        condition = self._binary_level(0)
        if self._accept("?") is None:
            return condition
        then = self.ternary()
        self._expect(":")
        return Ternary(condition, then, self.ternary())

    _LEVELS: Final = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%"))

    def _binary_level(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        node = self._binary_level(level + 1)
        while (op := self._accept(*self._LEVELS[level])) is not None:
            node = Binary(op, node, self._binary_level(level + 1))
        return node

    def unary(self) -> Node:
        op = self._accept("-", "+", "!")
        if op is not None:
            return Unary(op, self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind in {"number", "string"}:
            self.index += 1
            return Literal(token.value)
        if token.kind == "name":
            self.index += 1
            if token.text in _KEYWORDS:
                return Literal(_KEYWORDS[token.text])
            if self._accept("(") is not None:
                return Call(token.text.lower(), self._arguments())
            return Name(token.text)
        if self._accept("(") is not None:
            node = self.ternary()
            self._expect(")")
            return node
        raise FormulaError(
            f"Unexpected {token.text or 'end of formula'!r} at {token.position}", field="formula"
        )

    def _arguments(self) -> tuple[Node, ...]:
        args: list[Node] = []
        if self._accept(")") is not None:
            return ()
        while True:
            args.append(self.ternary())
            if self._accept(")") is not None:
                return tuple(args)
            self._expect(",")


@lru_cache(maxsize=1024)
def parse_formula(source: str) -> Node:
    """Parse to an AST (cached, as computed fields re-run per decision); raises FormulaError."""
    try:
        return _Parser(tokenize(source)).parse()
    except RecursionError as exc:
        raise FormulaError("Formula nested too deeply", field="formula") from exc


def validate_formula(source: str) -> str | None:
    """The parse error message, or ``None`` when the formula is well-formed."""
    try:
        parse_formula(source)
    except FormulaError as exc:
        return exc.message
    return None


def _number(value: Value) -> float | int:
    """Arithmetic operand: numbers, booleans as 1/0, numeric strings; anything else fails."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError as exc:
            raise _EvalError(f"not a number: {value!r}") from exc
    raise _EvalError("null operand")


def _truthy(value: Value) -> bool:
    return value not in (None, 0, "", False)


def _add(left: Value, right: Value) -> Value:
    if isinstance(left, str) or isinstance(right, str):
        if left is None or right is None:
            raise _EvalError("null operand")
        return f"{_text(left)}{_text(right)}"
    return _number(left) + _number(right)


def _divide(op: str, left: Value, right: Value) -> Value:
    numerator, denominator = _number(left), _number(right)
    if denominator == 0:
        raise _EvalError("division by zero")
    if op == "/":
        return numerator / denominator
    return math.fmod(numerator, denominator)  # JavaScript semantics: sign follows the dividend


def _compare(op: str, left: Value, right: Value) -> int:
    """Numeric when both sides are numeric (strings coerced), else equality/string order."""
    try:
        a: Any = _number(left)
        b: Any = _number(right)
    except _EvalError:
        a, b = left, right
    if op in {"==", "!="}:
        return int((a == b) == (op == "=="))
    numeric = isinstance(a, int | float) and isinstance(b, int | float)
    if not numeric and not (isinstance(a, str) and isinstance(b, str)):
        raise _EvalError("cannot order mixed types")
    outcomes = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
    return int(outcomes[op])


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _round(value: Value, digits: Value = 0) -> float:
    """Half away from zero on the decimal text (2.345 → 2.35), unlike Python's banker's rounding."""
    places = int(_number(digits))
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(str(_number(value))).quantize(quantum, rounding=ROUND_HALF_UP))


def _numbers(args: tuple[Value, ...]) -> list[float | int]:
    if not args:
        raise _EvalError("function needs at least one argument")
    return [_number(arg) for arg in args]


def _unary_number(fn: Callable[[float], float | int]) -> Callable[..., Value]:
    def apply(*args: Value) -> Value:
        if len(args) != 1:
            raise _EvalError("function takes one argument")
        return fn(_number(args[0]))

    return apply


FUNCTIONS: Final[Mapping[str, Callable[..., Value]]] = {
    "min": lambda *args: min(_numbers(args)),
    "max": lambda *args: max(_numbers(args)),
    "round": _round,
    "coalesce": lambda *args: next((arg for arg in args if arg is not None), None),
    "concat": lambda *args: "".join(_text(arg) for arg in args),
    "abs": _unary_number(abs),
    "floor": _unary_number(math.floor),
    "ceil": _unary_number(math.ceil),
}


class _Evaluator:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables

    def run(self, node: Node) -> Value:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            found, value = resolve_field(node.name, self.variables)
            return _coerce(value) if found else None
        if isinstance(node, Unary):
            return self._unary(node)
        if isinstance(node, Ternary):
            return self.run(node.then) if _truthy(self.run(node.condition)) else self.run(node.otherwise)
        if isinstance(node, Call):
            return self._call(node)
        return self._binary(node)

    def _unary(self, node: Unary) -> Value:
        operand = self.run(node.operand)
        if node.op == "!":
            return int(not _truthy(operand))
        number = _number(operand)
        return -number if node.op == "-" else number

    def _binary(self, node: Binary) -> Value:
        if node.op == "&&":
            return int(_truthy(self.run(node.left)) and _truthy(self.run(node.right)))
        if node.op == "||":
            return int(_truthy(self.run(node.left)) or _truthy(self.run(node.right)))
        left, right = self.run(node.left), self.run(node.right)
        if node.op == "+":
            return _add(left, right)
        if node.op == "-":
            return _number(left) - _number(right)
        if node.op == "*":
            return _number(left) * _number(right)
        if node.op in {"/", "%"}:
            return _divide(node.op, left, right)
        return _compare(node.op, left, right)

    def _call(self, node: Call) -> Value:
        function = FUNCTIONS.get(node.function)
        if function is None:
            raise _EvalError(f"unknown function {node.function}")
        return function(*(self.run(arg) for arg in node.args))


def _coerce(value: Any) -> Value:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    raise _EvalError(f"unsupported variable type {type(value).__name__}")


def _tidy(value: Value) -> Value:
    """Trim binary floating-point noise (17.989999999999998 → 17.99); NaN/inf become null."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 10)
    return value


def evaluate_formula(expression: str | Node, variables: Mapping[str, Any]) -> Value:
    """Evaluate against a flat variable map (``customer.loyalty_score`` is one key; nested
    dicts also resolve). Unknown variables are ``null``; any error returns ``None``.
    """
    try:
        node = parse_formula(expression) if isinstance(expression, str) else expression
        return _tidy(_Evaluator(variables).run(node))
    except (FormulaError, _EvalError, ArithmeticError, ValueError, TypeError, RecursionError):
        return None
