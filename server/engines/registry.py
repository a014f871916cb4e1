"""Engines by name. Modules are imported only when an engine is used, so the
server starts fast and runs without torch when only ``classic`` is wanted."""
from __future__ import annotations

import importlib
from typing import Any, Dict

from void_nuke.errors import VoidError

from .base import Engine

MODULES = {
    "classic": "void_server.engines.classic",
    "void": "void_server.engines.void",
}


def create_engine(name: str, settings: Dict[str, Any]) -> Engine:
    if name not in MODULES:
        raise VoidError(f"unknown engine {name!r}; this server has {', '.join(sorted(MODULES))}",
                        code="unknown_engine")
    try:
        module = importlib.import_module(MODULES[name])
    except ImportError as exc:
        raise VoidError(f"the {name} engine cannot load: {exc}. Install the server extras: "
                        "pip install 'void-nuke[server]'", code="engine_unavailable") from None
    return module.create_engine(settings)


def describe_engines(settings: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """What HELLO reports about each engine, without loading any model or importing torch."""
    from .void.files import describe as describe_void

    return {"classic": {"available": True, "gpu": False}, "void": describe_void(settings)}
