"""A fingerprint of what a VOID node's result depends on, for the stale-result check.

It hashes what changes the output, and nothing else:

- the node's own result knobs (``node.RESULT_KNOBS``) and clicked points;
- every node upstream of its inputs (inside upstream Groups too): its class
  and the knobs Nuke writes for it (``Node.writeKnobs`` with
  ``WRITE_NON_DEFAULT_ONLY``: one call per node, the text a saved script
  holds), less the knobs that only change how the graph or a panel looks
  (position, selection, colour, label, the Roto toolbox and tool settings,
  ``IGNORED_KNOBS`` and the ``toolbar_`` knobs);
- in a Roto's ``curves``, the element and point flags less the selection
  bits (``FlagType``: key, tangent and element selected), so selecting a
  shape or a point is not an edit.

Stored at send time and compared later: a difference means the shown result
no longer matches the comp. When a knob's text cannot be parsed, the node's
whole text is hashed: a false "stale", never a missed one.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, List, Set, Tuple

from .node import RESULT_KNOBS

IGNORED_KNOBS = frozenset({
    "xpos", "ypos", "selected", "label", "note_font", "note_font_size", "note_font_color", "tile_color",
    "gl_color", "hide_input", "cached", "postage_stamp", "postage_stamp_frame", "dope_sheet", "bookmark",
    "icon", "indicators", "name", "help", "onCreate", "knobChanged", "updateUI", "autolabel", "panel",
    "onDestroy", "lock_connections", "toolbox", "tools", "rototools", "rototools_clone", "toolbar", "view_mode",
    "status", "progress", "stale",
})
"""Knobs that change how a node looks in the graph or its panel, never its pixels."""
IGNORED_PREFIXES = ("toolbar_",)

SELECTION_BITS = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 6)
"""eKeySelectedFlag, eLeftTangentSelectedFlag, eRightTangentSelectedFlag, eSelectedFlag (FlagType)."""
_ELEMENT_FLAGS = re.compile(r"(\{(?:curvegroup|cubiccurve) \S+ )(\d+)")
_FLAG_GROUP = re.compile(r"(\{f )(\d+)(\})")

POINT_PREFIX = "void_pt"


def _unselected(text: str) -> str:
    """A Roto ``curves`` text with the selection bits of every element and point cleared."""
    def mask(m: "re.Match[str]") -> str:
        return m.group(1) + str(int(m.group(2)) & ~SELECTION_BITS) + (m.group(3) if m.lastindex == 3 else "")
    return _FLAG_GROUP.sub(mask, _ELEMENT_FLAGS.sub(mask, text))


_SPACE = re.compile(r"\s*")
_PLAIN = re.compile(r"\S+")
_QUOTED = re.compile(r'"((?:\\.|[^"\\])*)"', re.S)
_BRACE = re.compile(r"\\.|[{}]", re.S)


def tcl_words(text: str) -> List[str]:
    """The words of a TCL script as Nuke writes knobs: plain, "quoted" or {braced}, across lines.

    Regular expressions do the scanning: a Roto's curves are megabytes of text on a big shot.
    """
    if "{" not in text and '"' not in text:
        return text.split()  # most nodes: plain words only
    words: List[str] = []
    i, n = _SPACE.match(text, 0).end(), len(text)  # type: ignore[union-attr]
    while i < n:
        c = text[i]
        if c == "{":
            depth = 0
            for m in _BRACE.finditer(text, i):
                token = m.group()
                depth += 1 if token == "{" else -1 if token == "}" else 0
                if depth == 0:
                    words.append(text[i + 1:m.start()])
                    i = m.end()
                    break
            else:
                raise ValueError("unbalanced braces")
        elif c == '"':
            m = _QUOTED.match(text, i)
            if m is None:
                raise ValueError("unbalanced quotes")
            words.append(m.group(1))
            i = m.end()
        else:
            m = _PLAIN.match(text, i)
            words.append(m.group())  # type: ignore[union-attr]
            i = m.end()  # type: ignore[union-attr]
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
    return words


def _knob_pairs(text: str) -> List[Tuple[str, str]]:
    words = tcl_words(text)
    if len(words) % 2:
        raise ValueError("odd number of words")
    return list(zip(words[0::2], words[1::2]))


def node_state(node: object) -> str:
    """Class and the output-changing knob values of one node, in a stable order."""
    import nuke

    text = node.writeKnobs(nuke.WRITE_NON_DEFAULT_ONLY | nuke.TO_SCRIPT)  # type: ignore[attr-defined]
    try:
        pairs = _knob_pairs(text)
    except ValueError:
        return f"{node.Class()}\n{text}"  # type: ignore[attr-defined]
    kept = [f"{name}={_unselected(value) if name == 'curves' else value}" for name, value in pairs
            if name not in IGNORED_KNOBS and not name.startswith(IGNORED_PREFIXES)]
    return "\n".join([node.Class()] + kept)  # type: ignore[attr-defined]  # writeKnobs' order is stable


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


def _knob_text(knob: object) -> str:
    try:
        return str(knob.toScript())  # type: ignore[attr-defined]
    except Exception:  # an odd knob (a broken TCL expression) must not stop the check
        return "<unreadable>"


def _with_insides(node: object) -> List[object]:
    """A node, and for a Group (not a VOID node) every node inside it."""
    found = [node]
    if node.Class() == "Group":  # type: ignore[attr-defined]
        for inner in node.nodes():  # type: ignore[attr-defined]
            found.extend(_with_insides(inner))
    return found


def state_hash(group: object) -> str:
    """SHA-256 of the node's result knobs, clicked points and everything upstream of its inputs."""
    h = hashlib.sha256()
    for name in RESULT_KNOBS:
        knob = group.knob(name)  # type: ignore[attr-defined]
        h.update(f"{name}={_knob_text(knob) if knob is not None else ''}\n".encode())
    knobs = group.knobs()  # type: ignore[attr-defined]
    for name in sorted(k for k in knobs if k.startswith(POINT_PREFIX)):
        h.update(f"{name}={_knob_text(knobs[name])}\n".encode())
    for i in range(group.inputs()):  # type: ignore[attr-defined]
        h.update(f"input {i}\n".encode())
        for node in upstream([group.input(i)]):  # type: ignore[attr-defined]
            for part in _with_insides(node):
                h.update(node_state(part).encode() + b"\n")
    return h.hexdigest()
