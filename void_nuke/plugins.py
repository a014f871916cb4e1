"""Engines added by other packages, through the ``void_nuke.engines`` entry-point group.

A studio package declares, in its ``pyproject.toml``::

    [project.entry-points."void_nuke.engines"]
    myengine = "studio_tools.myengine:create_engine"

where ``create_engine(settings) -> Engine`` follows ``void_server.engines.base``.
Shots may then name ``myengine``; the server lists it in HELLO. Only installed
packages register engines: a client sends a name, never code.
"""
from __future__ import annotations

import functools
from typing import Any, Dict

ENGINE_GROUP = "void_nuke.engines"


@functools.lru_cache(maxsize=1)
def engine_entry_points() -> Dict[str, Any]:
    """Installed engine plugins by name (``importlib.metadata.EntryPoint``), looked up once."""
    from importlib.metadata import entry_points

    found = entry_points()
    group = found.select(group=ENGINE_GROUP) if hasattr(found, "select") else found.get(ENGINE_GROUP, ())
    return {ep.name: ep for ep in group}
