"""Clicked SAM2 points, kept as knobs on the VOID node's Points tab.

Each point is three knobs on one line: ``void_ptN`` (an XY_Knob, which Nuke
draws as a draggable cross in the Viewer while the node's panel is open),
``void_ptN_frame`` (the frame it belongs to) and ``void_ptN_positive``
(on the object, or not). Adding a point puts it at the centre of the format
on the current frame; the artist drags it onto the object. XY values are in
Nuke's bottom-left space and are flipped to top-left when read.
"""
from __future__ import annotations

from typing import List, Tuple

import nuke

from ..shapes import PointPrompt
from .state import POINT_PREFIX


def _indices(group: object) -> List[int]:
    found = []
    for name in group.knobs():  # type: ignore[attr-defined]
        tail = name[len(POINT_PREFIX):]
        if name.startswith(POINT_PREFIX) and tail.isdigit():
            found.append(int(tail))
    return sorted(found)


def add_point(group: object, positive: bool, frame: int, size: Tuple[int, int]) -> int:
    """Add a point at the centre of a ``size`` (width, height) format; returns its number."""
    n = (_indices(group) or [0])[-1] + 1
    xy = nuke.XY_Knob(f"{POINT_PREFIX}{n}", f"{'+' if positive else '-'} point {n}")
    frame_knob = nuke.Int_Knob(f"{POINT_PREFIX}{n}_frame", "frame")
    sign = nuke.Boolean_Knob(f"{POINT_PREFIX}{n}_positive", "on object")
    frame_knob.clearFlag(nuke.STARTLINE)
    sign.clearFlag(nuke.STARTLINE)
    for knob in (xy, frame_knob, sign):
        group.addKnob(knob)  # type: ignore[attr-defined]
    xy.setValue([size[0] / 2.0, size[1] / 2.0])
    frame_knob.setValue(int(frame))
    sign.setValue(bool(positive))
    return n


def clear_points(group: object) -> int:
    """Remove every clicked point; returns how many there were."""
    numbers = _indices(group)
    for n in numbers:
        for suffix in ("", "_frame", "_positive"):
            group.removeKnob(group[f"{POINT_PREFIX}{n}{suffix}"])  # type: ignore[attr-defined,index]
    return len(numbers)


def read_points(group: object, height: int) -> Tuple[PointPrompt, ...]:
    """The clicked points as SAM2 prompts, in top-left plate pixels."""
    found = []
    for n in _indices(group):
        frame = int(group[f"{POINT_PREFIX}{n}_frame"].value())  # type: ignore[index]
        xy = group[f"{POINT_PREFIX}{n}"]  # type: ignore[index]
        x, y = float(xy.valueAt(frame, 0)), float(xy.valueAt(frame, 1))
        positive = bool(group[f"{POINT_PREFIX}{n}_positive"].value())  # type: ignore[index]
        found.append(PointPrompt(frame, x, height - y, positive))
    return tuple(found)
