"""How each matte input of a VOID node reaches the server: as Roto shapes, or rendered through Nuke.

The Roto nodes are found by walking the graph upstream of the node's Remove
and Affected inputs (never by name). An input is sent as shapes when what
feeds it is exactly a stack of Roto/RotoPaint nodes that the shapes describe:

    Roto2 (its bg input: Roto1, or nothing, or a node without alpha) -> Dot -> Remove

Dots and disabled nodes pass through. Anything else on the way (a Transform,
a TimeOffset, a Blur, a Merge...) changes the alpha in a way shapes do not
carry, as do the things ``roto.read_roto`` reports; then the input's alpha
is rendered through a temporary Write, the reason is named, and the server
gets exactly the matte Nuke draws. An input fed by no Roto at all is a plain
matte and is always rendered.

Each input has a knob, ``remove_mode`` / ``affected_mode`` (``node.MATTE_MODES``): ``auto`` (shapes
when exact, else render), ``shapes`` (always the shapes of every Roto
upstream; what they leave out is named) or ``render``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..sequences import FrameRange
from ..shapes import Shape
from .roto import ROTO_CLASSES, read_roto
from .state import upstream
INPUTS = (("remove", "Remove", 1), ("affected", "Affected", 2))
"""(role, input name, input index) of the matte inputs."""
ALPHA = "rgba.alpha"


@dataclass
class MatteChoice:
    """What one matte input sends."""

    role: str
    input_name: str
    kind: str
    """``none`` (not connected), ``shapes`` or ``render``."""
    shapes: Tuple[Shape, ...] = ()
    notes: List[str] = field(default_factory=list)


def _passes_through(node: object) -> bool:
    if node.Class() == "Dot":  # type: ignore[attr-defined]
        return True
    disable = node.knob("disable")  # type: ignore[attr-defined]
    return disable is not None and bool(disable.value())


def _is_roto(node: object) -> bool:
    return node.Class() in ROTO_CLASSES and not _passes_through(node)  # type: ignore[attr-defined]


def roto_stack(start: Optional[object], input_name: str) -> Tuple[List[object], List[str]]:
    """The Roto nodes feeding an input, nearest first, and why their shapes would not be exact.

    Returns ([], []) for a plain matte (no Roto upstream).
    """
    stack: List[object] = []
    reasons: List[str] = []
    node = start
    while node is not None:
        if _passes_through(node):
            node = node.input(0)  # type: ignore[attr-defined]
        elif node.Class() in ROTO_CLASSES:  # type: ignore[attr-defined]
            stack.append(node)
            node = node.input(0)  # type: ignore[attr-defined]
        elif stack:
            if ALPHA in node.channels():  # type: ignore[attr-defined]
                reasons.append(f"{stack[-1].name()}'s bg input {node.name()} carries an alpha "  # type: ignore[attr-defined]
                               "channel")
            break
        else:
            further = [n for n in upstream([node]) if _is_roto(n)]
            if further:
                reasons.append(f"{node.name()} ({node.Class()}) sits between "  # type: ignore[attr-defined]
                               f"{further[0].name()} and the {input_name} input")  # type: ignore[attr-defined]
                stack.extend(further)
            break
    return stack, reasons


def choose(group: object, role: str, input_name: str, index: int, frames: FrameRange,
           plate_size: Tuple[int, int], view: str) -> MatteChoice:
    """Decide how the input ``index`` of ``group`` is sent, reading its Roto shapes when they go."""
    source = group.input(index)  # type: ignore[attr-defined]
    if source is None:
        return MatteChoice(role, input_name, "none")
    mode = str(group[f"{role}_mode"].value())  # type: ignore[index]  # one of node.MATTE_MODES
    stack, reasons = roto_stack(source, input_name)
    if mode == "shapes" and not any(_is_roto(n) for n in upstream([source])):
        return MatteChoice(role, input_name, "render",
                           notes=[f"{input_name} is set to shapes but no Roto feeds it: its alpha is rendered"])
    if not stack or mode == "render":
        return MatteChoice(role, input_name, "render")
    if mode == "shapes":
        stack = [n for n in upstream([source]) if _is_roto(n)]
    reads = [read_roto(node, frames, role, plate_size, view) for node in reversed(stack)]  # bottom first
    reasons += [r for read in reads for r in read.reasons]
    shapes = tuple(s for read in reads for s in read.shapes)
    if mode == "auto" and reasons:
        return MatteChoice(role, input_name, "render",
                           notes=[f"{input_name} rendered through Nuke: " + "; ".join(reasons)])
    notes = [f"{input_name} sent as shapes without: " + "; ".join(reasons)] if reasons else []
    return MatteChoice(role, input_name, "shapes", shapes, notes)


def unique_names(shapes: List[Shape]) -> List[Shape]:
    """The same Roto feeding both inputs gives shapes of the same name: suffix the later ones' role."""
    from dataclasses import replace

    seen = set()
    out = []
    for shape in shapes:
        if shape.name in seen:
            shape = replace(shape, name=f"{shape.name} ({shape.role})")
        seen.add(shape.name)
        out.append(shape)
    return out
