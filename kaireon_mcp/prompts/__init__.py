"""Route system prompts and playbook prompts, kept as markdown files beside this module.

Each file opens with a small front matter block::

    ---
    title: Run a shadow experiment
    description: One line every prompt must have (MCP clients show it).
    arguments:
    - challengerModelId (required): id of the model to shadow
    - traceLimit (optional, default: 500): how many traces to replay
    ---
    Body with {{challengerModelId}} placeholders.

Text lives in files, not code, so prompt wording can be reviewed and edited without touching
Python. This module has no MCP imports: the chat loop and the MCP server share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.tools.registry import route_module

__all__ = [
    "MODULES",
    "PromptArgument",
    "PromptSpec",
    "RenderedPrompt",
    "get_prompt_spec",
    "list_playbook_prompts",
    "list_prompts",
    "list_system_prompts",
    "render_prompt",
    "system_prompt",
]

PROMPTS_DIR = Path(__file__).resolve().parent
MODULES = ("General", "Data", "Studio", "Algorithms", "Dashboards")
_ARGUMENT = re.compile(r"^- (\w+) \((required|optional)(?:, default: (.*?))?\): (.+)$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class PromptArgument:
    name: str
    description: str
    required: bool
    default: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[PromptArgument, ...]
    body: str
    kind: str  # "system" or "playbook"


@dataclass(frozen=True)
class RenderedPrompt:
    name: str
    description: str
    text: str


def _parse(name: str, kind: str, text: str) -> PromptSpec:
    """Split front matter from body; a malformed file is a packaging bug, so fail loudly."""
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.DOTALL)
    if match is None:
        raise ValueError(f"prompt {name}: missing front matter")
    header, body = match.groups()
    fields: dict[str, str] = {}
    arguments: list[PromptArgument] = []
    for line in header.splitlines():
        arg = _ARGUMENT.match(line)
        if arg:
            arg_name, need, default, description = arg.groups()
            arguments.append(PromptArgument(arg_name, description.strip(), need == "required", default))
        elif ":" in line and not line.startswith("-"):
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    if not fields.get("description"):
        raise ValueError(f"prompt {name}: every prompt needs a description")
    return PromptSpec(
        name=name,
        title=fields.get("title", name),
        description=fields["description"],
        arguments=tuple(arguments),
        body=body.strip() + "\n",
        kind=kind,
    )


@cache
def list_system_prompts() -> tuple[PromptSpec, ...]:
    """The five module system prompts, named ``system_<module>``, in MODULES order."""
    return tuple(
        _parse(
            f"system_{module.lower()}",
            "system",
            (PROMPTS_DIR / "system" / f"{module.lower()}.md").read_text(),
        )
        for module in MODULES
    )


@cache
def list_playbook_prompts() -> tuple[PromptSpec, ...]:
    """One prompt per ``playbook_*`` tool, sorted by name."""
    return tuple(
        _parse(path.stem, "playbook", path.read_text(encoding="utf-8"))
        for path in sorted((PROMPTS_DIR / "playbooks").glob("playbook_*.md"))
    )


def list_prompts() -> tuple[PromptSpec, ...]:
    """Every MCP prompt: system prompts first, then playbooks (a stable order for paging)."""
    return list_system_prompts() + list_playbook_prompts()


def get_prompt_spec(name: str) -> PromptSpec:
    for spec in list_prompts():
        if spec.name == name:
            return spec
    raise NotFoundError(f"unknown prompt {name!r}", field="name")


def system_prompt(route: str | None) -> str:
    """The system prompt of the module the route maps to (General for / and unmatched routes)."""
    return get_prompt_spec(f"system_{route_module(route).lower()}").body


def render_prompt(name: str, args: dict[str, str] | None = None) -> RenderedPrompt:
    """Fill a prompt's placeholders; optional arguments fall back to their documented default.

    Raises:
        NotFoundError: no prompt has that name.
        ValidationError: a required argument is missing or an unknown one was given.
    """
    spec = get_prompt_spec(name)
    given = {key: value for key, value in (args or {}).items() if value is not None}
    known = {arg.name for arg in spec.arguments}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValidationError(f"prompt {name} has no argument {unknown[0]!r}", field=unknown[0])
    values: dict[str, str] = {}
    for arg in spec.arguments:
        value = str(given.get(arg.name, "")).strip()
        if not value and arg.required:
            raise ValidationError(f"prompt {name} needs the argument {arg.name!r}", field=arg.name)
        values[arg.name] = value or arg.default or "(not given)"
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), spec.body)
    return RenderedPrompt(name=name, description=spec.description, text=text)
