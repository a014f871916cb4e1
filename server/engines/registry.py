"""Engines by name. Modules are imported only when an engine is used, so the
server starts fast and runs without torch when only ``classic`` is wanted.

Besides the built-in engines, installed packages may add engines through the
``void_nuke.engines`` entry-point group (see ``void_nuke.plugins``)."""
from __future__ import annotations

import importlib
from typing import Any, Dict

from void_nuke.errors import VoidError
from void_nuke.plugins import engine_entry_points

from .base import Engine

MODULES = {
    "classic": "void_server.engines.classic",
    "void": "void_server.engines.void",
}


def create_engine(name: str, settings: Dict[str, Any]) -> Engine:
    plugins = engine_entry_points()
    if name not in MODULES and name not in plugins:
        known = sorted(MODULES) + sorted(plugins)
        raise VoidError(f"unknown engine {name!r}; this server has {', '.join(known)}", code="unknown_engine")
    if name not in MODULES:
        try:
            factory = plugins[name].load()
        except Exception as exc:  # a broken plugin must not take the server down
            raise VoidError(f"the {name} engine ({plugins[name].value}) cannot load: {exc}. Reinstall the "
                            "package that provides it", code="engine_unavailable") from None
        return factory(settings)
    try:
        module = importlib.import_module(MODULES[name])
    except ImportError as exc:
        raise VoidError(f"the {name} engine cannot load: {exc}. Install the server extras: "
                        "pip install 'void-nuke[server]'", code="engine_unavailable") from None
    return module.create_engine(settings)


def describe_engines(settings: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """What HELLO reports about each engine, without loading any model or importing torch."""
    from .void.files import describe as describe_void

    engines = {"classic": {"available": True, "gpu": False}, "void": describe_void(settings)}
    for name, entry in engine_entry_points().items():
        engines.setdefault(name, {"available": True, "plugin": entry.value})
    return engines
