"""Get the VOID node's inputs onto disk as EXR sequences the server can read.

Source: when it is an *unmodified EXR Read* its own files are used (nothing
is rendered); otherwise Source is rendered. An unmodified EXR Read is a Read
node wired straight into Source that

- reads ``.exr`` files (its path as Nuke evaluates it: TCL, then the
  project directory), one file per view in a stereo script (``%V``/``%v``
  in the path; a file holding every view is rendered instead);
- has no frame offset (``frame`` empty or 0) and covers every frame sent;
- converts no colour: ``raw`` is on, or its colour space is the script's
  working space (``root.workingSpaceLUT``), which makes the input transform
  the identity;
- is not premultiplying on read;
- and every frame file exists.

Anything else (a Read of DPX, a Grade after it, proxy...) is rendered.

Rendering goes through a temporary Crop and Write made inside the Group and
deleted in a ``finally``: the Crop (box = format, ``intersect`` off) makes
the EXR data window equal to the format; the Write makes 16-bit half,
lossless zip, ``raw`` (no colour transform: the working space is written),
and creates its folders; in a stereo script it renders the job's view only
(its ``views`` knob and ``nuke.execute``'s ``views``). ``nuke.execute`` runs
on the main thread and shows Nuke's own progress bar; its Cancel raises
``nuke.CancelledError`` and stops the export.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Tuple

import nuke

from ..errors import Cancelled, ImageError, ShotError
from ..sequences import FrameRange, SequencePattern
from . import paths

EXR_COMPRESSION = "Zip (1 scanline)"
EXR_DATATYPE = "16 bit half"
MATTE_CHANNEL = "A"
_DEFAULT_WRAPPER = re.compile(r"^default \((.*)\)$")


def _colourspace_name(value: str) -> str:
    """``default (scene_linear)`` → ``scene_linear``."""
    match = _DEFAULT_WRAPPER.match(value.strip())
    return (match.group(1) if match else value).strip()


def _no_colour_change(read: object) -> bool:
    if read["raw"].value():  # type: ignore[index]
        return True
    working = nuke.root().knob("workingSpaceLUT")
    if working is None:
        return False
    return _colourspace_name(read["colorspace"].value()) == _colourspace_name(working.value())  # type: ignore[index]


def _view_file(pattern: str, view: str) -> Optional[str]:
    """The file pattern of one view: ``%V`` is the view's name, ``%v`` its first letter."""
    if "%V" in pattern or "%v" in pattern:
        return pattern.replace("%V", view).replace("%v", view[:1]) if view else None
    return None if view else pattern


def unmodified_exr_read(read: Optional[object], frames: FrameRange, view: str = "") -> Optional[str]:
    """The Read's file pattern (absolute) when its files can be sent as they are, else None."""
    if read is None or read.Class() != "Read":  # type: ignore[attr-defined]
        return None
    try:
        pattern = _view_file(paths.evaluated(read, "file"), view)
    except ShotError:
        return None
    if pattern is None or not pattern.lower().endswith(".exr"):
        return None
    offset = str(read["frame"].value()).strip()  # type: ignore[index]
    if offset not in ("", "0") or read["premultiplied"].value() or not _no_colour_change(read):  # type: ignore[index]
        return None
    if not (read["first"].value() <= frames.first and frames.last <= read["last"].value()):  # type: ignore[index]
        return None
    try:
        sequence = SequencePattern(pattern)
    except ShotError:
        return None
    return pattern if not sequence.missing(list(frames)) else None


def format_size(node: object) -> Tuple[int, int]:
    fmt = node.format()  # type: ignore[attr-defined]
    return int(fmt.width()), int(fmt.height())


def render(group: object, input_name: str, channels: str, pattern: str, frames: FrameRange,
           size: Tuple[int, int], view: str = "") -> str:
    """Render the Group's ``input_name`` input (of ``view`` in a stereo script) to ``pattern``."""
    if len(SequencePattern(pattern).missing(list(frames))) < len(frames):
        raise ImageError(f"{os.path.dirname(pattern)} already holds {input_name} frames; exports never "
                         "overwrite, so send a new job or remove that folder")
    with group:  # type: ignore[attr-defined]
        crop = nuke.nodes.Crop()
        write = nuke.nodes.Write()
        try:
            crop.setInput(0, nuke.toNode(input_name))
            crop["box"].setValue([0, 0, size[0], size[1]])
            for knob, value in (("reformat", False), ("intersect", False), ("crop", True)):
                crop[knob].setValue(value)
            write.setInput(0, crop)
            write["file_type"].setValue("exr")  # first: the exr knobs exist once the type is set
            for knob, value in (("file", pattern), ("channels", channels), ("datatype", EXR_DATATYPE),
                                ("compression", EXR_COMPRESSION), ("raw", True), ("create_directories", True)):
                write[knob].setValue(value)
            if view:
                write["views"].setValue(view)
            nuke.execute(write, frames.first, frames.last, 1, [view] if view else None)
        except nuke.CancelledError:
            raise Cancelled(f"the export of {input_name} was cancelled") from None
        except RuntimeError as exc:
            if "cancel" in str(exc).lower():
                raise Cancelled(f"the export of {input_name} was cancelled") from None
            raise ImageError(f"could not render the {input_name} input of {group.name()}: {exc}; "  # type: ignore[attr-defined]
                             "check that node in the Viewer") from None
        finally:
            nuke.delete(write)
            nuke.delete(crop)
    return pattern
