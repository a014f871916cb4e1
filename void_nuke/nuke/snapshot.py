"""Snapshot a VOID node into a ``Shot``, on the main thread, when the artist presses Send.

Everything the job needs is read here, once: knob values, frame range and
handles, the view, the Remove/Affected inputs (Roto shapes for every frame,
or their alpha rendered through Nuke: ``mattes``), clicked points, the
script's OCIO config and pixel aspect, and the inputs on disk (exported when
needed). Paths are evaluated as Nuke evaluates them (``paths``). After this,
the worker thread only sees plain data and never touches a Nuke object.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Tuple

import nuke

from ..errors import ShotError
from ..sequences import FrameRange, SequencePattern
from ..shapes import Prompts
from ..shot import EngineSettings, MatteSource, OutputSettings, Shot, new_job_id
from . import colour, mattes, paths
from .export import MATTE_CHANNEL, format_size, render, unmodified_exr_read
from .points import read_points
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
    notes: Tuple[str, ...] = ()
    """What the artist should know about how the job was built (inputs rendered and why, the OCIO config)."""


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
    """The ``output`` knob as Nuke evaluates it, or ``<script folder>/void/<node name>`` for a saved script."""
    value = paths.evaluated(group, "output")
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
                return SequencePattern(paths.evaluated(node, "file")).basename
            except ShotError:
                break
    return group.name()  # type: ignore[attr-defined]


def selected_view(group: object) -> str:
    """The view to send: the node's ``view`` knob in a stereo script, "" in a single-view one."""
    views = list(nuke.views())
    if len(views) < 2:
        return ""
    knob = group.knob("view")  # type: ignore[attr-defined]
    view = str(knob.value()) if knob is not None else ""
    if view not in views:
        raise ShotError("view", f"the node sends view {view!r}, which this script does not have "
                                f"(it has {', '.join(views)}); choose one in the view knob")
    return view


def _engine(group: object) -> EngineSettings:
    g = group
    return EngineSettings(name=g["engine"].value(), steps=int(g["steps"].value()),  # type: ignore[index]
                          seed=int(g["seed"].value()), guidance=float(g["guidance"].value()),  # type: ignore[index]
                          passes=int(g["passes"].value()), roi=g["roi"].value())  # type: ignore[index]


def take(group: object, preview: bool = False) -> Snapshot:
    """Read the node into a Shot, exporting the inputs that are not already EXR files."""
    if nuke.root()["proxy"].value():
        raise ShotError("proxy", "turn proxy mode off: VOID works on full-resolution plates")
    source = group.input(0)  # type: ignore[attr-defined]
    if source is None:
        raise ShotError("Source", "connect the plate to the VOID node's Source input")
    view = selected_view(group)
    frames = frame_range(group)
    handles = (int(group["handle_head"].value()), int(group["handle_tail"].value()))  # type: ignore[index]
    process = frames.extended(*handles)
    size = format_size(source)
    out_dir, name = output_dir(group), source_name(group)
    choices = [mattes.choose(group, role, input_name, index, process, size, view or "default")
               for role, input_name, index in mattes.INPUTS]
    config, config_note = colour.script_config()
    notes = tuple(n for c in choices for n in c.notes) + ((config_note,) if config_note else ())
    pending = os.path.join(out_dir, EXPORT_FOLDER, PENDING)
    rendered = {c.role: (MatteSource(os.path.join(pending, f"{c.role}.####.exr"), MATTE_CHANNEL),)
                for c in choices if c.kind == "render"}
    direct = unmodified_exr_read(source, process, view)
    planned = Shot(plate=direct or os.path.join(pending, f"{name}.####.exr"), frames=frames,
                   output=OutputSettings(out_dir, name=name, grain=bool(group["grain"].value())), name=name, handles=handles,
                   remove=rendered.get("remove", ()), affected=rendered.get("affected", ()),
                   shapes=tuple(mattes.unique_names([s for c in choices for s in c.shapes])),
                   prompts=Prompts(points=read_points(group, size[1])),
                   prompt=str(group["prompt"].value()).strip(),  # type: ignore[index]
                   colorspace=str(group["colorspace"].value()).strip(), ocio_config=config,  # type: ignore[index]
                   pixel_aspect=float(source.format().pixelAspect()), view=view, engine=_engine(group))
    job_id = new_job_id(planned)
    fingerprint = state_hash(group)
    export_dir = os.path.join(out_dir, EXPORT_FOLDER, job_id)
    exported: Dict[str, str] = {}
    if direct is None:
        exported["plate"] = render(group, "Source", "rgba", os.path.join(export_dir, f"{name}.####.exr"),
                                   process, size, view)
    for choice in choices:
        if choice.kind == "render":
            exported[f"{choice.role}/0"] = render(group, choice.input_name, "alpha",
                                                  os.path.join(export_dir, f"{choice.role}.####.exr"),
                                                  process, size, view)
    return Snapshot(planned.with_inputs(exported), job_id, fingerprint, preview, notes)
