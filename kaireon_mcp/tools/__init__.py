"""Tool families. ``load_all()`` imports every module so their ``@tool`` declarations register."""

from __future__ import annotations

import importlib
import pkgutil

from kaireon_mcp.tools.registry import REGISTRY, ToolRegistry

_SKIP = {"registry", "common"}


def load_all() -> ToolRegistry:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY
