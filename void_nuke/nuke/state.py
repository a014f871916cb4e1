"""A fingerprint of everything a VOID node's result depends on, for the stale-result check.

It hashes the node's own result knobs and clicked points, every node upstream
of its inputs (class and knob values, not positions or colours), and the
Roto nodes it takes shapes from (their curves knob serialises every shape).
Stored at send time and compared now: a difference means the shown result no
longer matches the comp.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, List, Set

from .node import RESULT_KNOBS

IGNORED_KNOBS = frozenset({
    "xpos", "ypos", "selected", "label", "note_font", "note_font_size", "note_font_color", "tile_color",
    "gl_color", "hide_input", "cached", "postage_stamp", "postage_stamp_frame", "dope_sheet", "bookmark",
    "icon", "indicators", "name", "help", "onCreate", "knobChanged", "updateUI", "autolabel", "panel",
    "onDestroy", "lock_connections",
})
"""Knobs that change how a node looks in the graph, never its pixels."""

POINT_PREFIX = "void_pt"


def _knob_text(knob: object) -> str:
    try:
        return str(knob.toScript())  # type: ignore[attr-defined]
    except Exception:  # an odd knob (a broken TCL expression) must not stop the check
        return "<unreadable>"


def node_state(node: object) -> str:
    """Class and knob values of one node, in a stable order."""
    knobs = node.knobs()  # type: ignore[attr-defined]
    parts = [node.Class()]  # type: ignore[attr-defined]
    parts += [f"{name}={_knob_text(knobs[name])}" for name in sorted(knobs) if name not in IGNORED_KNOBS]
    return "\n".join(parts)


def upstream(starts: Iterable[object]) -> List[object]:
    """Every node feeding ``starts`` (depth first, each once), ``starts`` included."""
    seen: Set[int] = set()
    order: List[object] = []
    stack = [n for n in starts if n is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(n for n in (node.input(i) for i in range(node.inputs())) if n is not None)  # type: ignore[attr-defined]
    return order


def state_hash(group: object, roto_nodes: Iterable[object] = ()) -> str:
    """SHA-256 of the node's result knobs, clicked points, upstream graph and Roto nodes."""
    h = hashlib.sha256()
    for name in RESULT_KNOBS:
        h.update(f"{name}={_knob_text(group[name])}\n".encode())  # type: ignore[index]
    knobs = group.knobs()  # type: ignore[attr-defined]
    for name in sorted(k for k in knobs if k.startswith(POINT_PREFIX)):
        h.update(f"{name}={_knob_text(knobs[name])}\n".encode())
    inputs = [group.input(i) for i in range(group.inputs())]  # type: ignore[attr-defined]
    for i, source in enumerate(inputs):
        h.update(f"input {i}\n".encode())
        for node in upstream([source]):
            h.update(node_state(node).encode() + b"\n")
    for roto in roto_nodes:
        h.update(b"roto\n" + node_state(roto).encode() + b"\n")
    return h.hexdigest()
