"""Snapshot a VOID node into a ``Shot``, on the main thread, when the artist presses Send.

Everything the job needs is read here, once: knob values, frame range and
handles, Roto shapes for every frame, clicked points, and the inputs on disk
(exported when needed). After this, the worker thread only sees plain data
and never touches a Nuke object.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

import nuke

from ..shot import new_job_id
from ..errors import ShotError
from ..sequences import FrameRange, SequencePattern
from ..shapes import Prompts
from ..shot import EngineSettings, MatteSource, OutputSettings, Shot
from .export import MATTE_CHANNEL, format_size, render, unmodified_exr_read
from .points import read_points
from .roto import find_roto_nodes, read_shapes
from .state import state_hash, upstream

EXPORT_FOLDER = "_export"
PENDING = "pending"


@dataclass(frozen=True)
class Snapshot:
    """A node's job as plain data."""

    shot: Shot
    job_id: str
    state_hash: str
    preview: bool = False


def frame_range(group: object) -> FrameRange:
    """The ``frames`` knob, or the Source's own range when it is empty."""
    text = str(group["frames"].value()).strip()  # type: ignore[index]
    if text:
        return FrameRange.parse(text)
    source = group.input(0)  # type: ignore[attr-defined]
    if source is None:
        raise ShotError("Source", "connect the plate to the VOID node's Source input")
    return FrameRange(int(source.firstFrame()), int(source.lastFrame()))


def output_dir(group: object) -> str:
    """The ``output`` knob, or ``<script folder>/void/<node name>`` for a saved script."""
    value = str(group["output"].value()).strip()  # type: ignore[index]
    if value:
        return value
    script = nuke.root().name()
    if not script or script == "Root":
        raise ShotError("output", "set the output folder, or save the script first (the default is "
                                  "<script folder>/void/<node name>)")
    return os.path.join(os.path.dirname(script), "void", group.name())  # type: ignore[attr-defined]


def source_name(group: object) -> str:
    """The plate's name (the first Read above Source), else the node's name."""
    for node in upstream([group.input(0)]):  # type: ignore[attr-defined]
        if node.Class() == "Read":  # type: ignore[attr-defined]
            try:
                return SequencePattern(str(node["file"].value())).basename  # type: ignore[index]
            except ShotError:
                break
    return group.name()  # type: ignore[attr-defined]


def _engine(group: object) -> EngineSettings:
    g = group
    return EngineSettings(name=g["engine"].value(), steps=int(g["steps"].value()),  # type: ignore[index]
                          seed=int(g["seed"].value()), guidance=float(g["guidance"].value()),  # type: ignore[index]
                          passes=int(g["passes"].value()), roi=g["roi"].value())  # type: ignore[index]


def _planned_shot(group: object, frames: FrameRange, handles: Tuple[int, int], out_dir: str, name: str,
                  plate: str, size: Tuple[int, int], rotos: List[object]) -> Shot:
    """The shot with inputs still to export pointing into a placeholder folder."""
    pending = os.path.join(out_dir, EXPORT_FOLDER, PENDING)
    process = frames.extended(*handles)
    mattes = {role: (MatteSource(os.path.join(pending, f"{role}.####.exr"), MATTE_CHANNEL),)
              for i, role in ((1, "remove"), (2, "affected")) if group.input(i) is not None}  # type: ignore[attr-defined]
    return Shot(plate=plate, frames=frames, output=OutputSettings(out_dir, name=name), name=name, handles=handles,
                remove=mattes.get("remove", ()), affected=mattes.get("affected", ()),
                shapes=tuple(s for r in rotos for s in read_shapes(r, process, size)),
                prompts=Prompts(points=read_points(group, size[1])),
                prompt=str(group["prompt"].value()).strip(),  # type: ignore[index]
                colorspace=str(group["colorspace"].value()).strip(), engine=_engine(group))  # type: ignore[index]


def take(group: object, preview: bool = False) -> Snapshot:
    """Read the node into a Shot, exporting inputs that are not already EXR files."""
    if nuke.root()["proxy"].value():
        raise ShotError("proxy", "turn proxy mode off: VOID works on full-resolution plates")
    source = group.input(0)  # type: ignore[attr-defined]
    if source is None:
        raise ShotError("Source", "connect the plate to the VOID node's Source input")
    frames = frame_range(group)
    handles = (int(group["handle_head"].value()), int(group["handle_tail"].value()))  # type: ignore[index]
    size = format_size(source)
    rotos = find_roto_nodes(str(group["roto_nodes"].value()))  # type: ignore[index]
    out_dir, name = output_dir(group), source_name(group)
    direct = unmodified_exr_read(source, frames.extended(*handles))
    planned = _planned_shot(group, frames, handles, out_dir, name,
                            direct or os.path.join(out_dir, EXPORT_FOLDER, PENDING, f"{name}.####.exr"),
                            size, rotos)
    job_id = new_job_id(planned)
    fingerprint = state_hash(group, rotos)
    export_dir = os.path.join(out_dir, EXPORT_FOLDER, job_id)
    process = planned.process_frames
    exported: Dict[str, str] = {}
    if direct is None:
        exported["plate"] = render(group, "Source", "rgba", os.path.join(export_dir, f"{name}.####.exr"),
                                   process, size)
    for key, input_name in (("remove", "Remove"), ("affected", "Affected")):
        if getattr(planned, key):
            exported[f"{key}/0"] = render(group, input_name, "alpha",
                                          os.path.join(export_dir, f"{key}.####.exr"), process, size)
    return Snapshot(planned.with_inputs(exported), job_id, fingerprint, preview)

