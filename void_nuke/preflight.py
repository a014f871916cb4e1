"""Checks on a shot's input files before anything is sent, claimed or computed.

``submit``, ``run``, ``batch`` and the farm's prepare task all run these, so an
export mistake is caught on the artist's machine with one message that names
the frames and the fix, and leaves nothing behind on a server or on disk:

- every plate and matte frame of the range *and its handles* exists; when none
  match, a sequence with other padding on disk is named (``####`` vs
  ``#####``); missing head or tail frames are blamed on the handles;
- every header reads, the plate keeps one format, mattes have the plate's
  format and carry their matte channel;
- a plate stored as integers (JPEG, PNG, 8/16-bit TIFF, DPX) is not
  scene-linear: its colour space comes from ``--colorspace`` or from the file's
  header (JPEG and PNG say sRGB), and the server converts it to scene-linear
  through OpenColorIO; with neither, the shot is refused.

Only the client side's needs are used here (OpenImageIO, fileseq): no
OpenColorIO, so it runs in Nuke's Python as well.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import fileseq

from .display import is_linear_srgb
from .errors import ImageError
from .exrio import ImageSpec, read_spec
from .sequences import PAD_STYLE, SequencePattern
from .shot import DEFAULT_COLORSPACE, Shot

SCENE_LINEAR = DEFAULT_COLORSPACE
"""What the server converts integer-encoded plates to: void-nuke's scene-linear default."""


def frame_list(frames: Sequence[int]) -> str:
    """Frames as compressed ranges: ``1021-1030, 1035``."""
    return str(fileseq.FrameSet(sorted(set(int(f) for f in frames)))).replace(",", ", ")


@dataclass(frozen=True)
class PlateEncoding:
    """How the plate's first frame stores its pixels."""

    format: str
    """OpenImageIO's format name: ``openexr``, ``jpeg``, ``png``, ``tiff``, ``dpx``..."""
    bits: int
    """Bits per channel value; 16 and 32 are floats when ``floating``."""
    floating: bool
    colorspace: str
    """The colour space the header names (``oiio:ColorSpace``), or ''."""

    def describe(self) -> str:
        kind = "float" if self.floating else f"{self.bits}-bit"
        return f"{kind} {self.format.upper() if self.format != 'openexr' else 'EXR'}"


@dataclass
class Checked:
    """A shot whose inputs passed, and what the command should tell its user."""

    shot: Shot
    inputs: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def prepare(shot: Shot, colorspace_given: bool = False) -> Checked:
    """Check every input of ``shot``; settle an integer plate's colour space.

    ``colorspace_given``: the user named the plate's colour space (``--colorspace``), so a
    linear name is taken at its word (a shot file always holds one, the default included).
    """
    inputs = check_inputs(shot, colorspace_given)
    shot, notes = settle_colorspace(shot, plate_encoding(shot.plate_sequence.path(shot.process_frames.first)),
                                    colorspace_given)
    return Checked(shot, inputs, notes)


# -- frames ------------------------------------------------------------------------------------

def check_frames(role: str, seq: SequencePattern, frames: Sequence[int], handles: Tuple[int, int] = (0, 0)) -> None:
    """Raise ``ImageError`` naming ``role``'s missing frames and the likely fix."""
    missing = seq.missing(frames)
    if not missing:
        return
    on_disk = _on_disk(seq)
    detail = {"role": role, "missing": missing}
    if len(missing) == len(frames) and on_disk is not None and on_disk.zfill() != seq.padding:
        width = on_disk.zfill()
        fixed = os.path.join(os.path.dirname(seq.pattern), f"{on_disk.basename()}{'#' * width}{on_disk.extension()}")
        raise ImageError(f"{role}: no file matches {seq.pattern} ({seq.padding}-digit frame numbers), but "
                         f"{fixed} holds frames {frame_list(on_disk.frameSet())} ({width} digits). Write it as "
                         f"{fixed} (or %0{width}d).", detail=dict(detail, padding=width))
    held = sorted(set(int(f) for f in on_disk.frameSet())) if on_disk is not None else []
    head = [f for f in missing if f < frames[0] + handles[0]]
    tail = [f for f in missing if f > frames[-1] - handles[1]]
    if held and (head or tail) and len(head) + len(tail) == len(missing):
        side = "head" if head and not tail else "tail" if tail and not head else "head and tail"
        raise ImageError(f"handles: the {side} handles need {role} frames {frame_list(head + tail)}, but "
                         f"{seq.pattern} holds {frame_list(held)}. Lower the handles (--handles, or "
                         "handles = [head, tail] in the shot file) or render those frames.", detail=detail)
    hint = ""
    if held:
        fits = _longest_run([f for f in held if frames[0] <= f <= frames[-1]])
        hint = f" (on disk: {frame_list(held)}" + (f"; --frames {fits[0]}-{fits[1]} fits" if fits else "") + ")"
    raise ImageError(f"{role}: {len(missing)} frame(s) missing from {seq.pattern}: {frame_list(missing)}. "
                     f"Render them, or narrow the frame range{hint}.", detail=detail)


def _longest_run(frames: Sequence[int]) -> Optional[Tuple[int, int]]:
    """The longest run of consecutive frames in sorted ``frames``, as (first, last)."""
    best: Optional[Tuple[int, int]] = None
    start = None
    for i, f in enumerate(frames):
        if start is None or f != frames[i - 1] + 1:
            start = f
        if best is None or f - start > best[1] - best[0]:
            best = (start, f)
    return best


def _on_disk(seq: SequencePattern) -> Optional[fileseq.FileSequence]:
    """The sequence on disk with the pattern's name and extension, whatever its padding."""
    folder = seq.directory
    if not os.path.isdir(folder):
        return None
    try:
        found = fileseq.findSequencesOnDisk(os.path.join(folder, f"{seq.prefix}@{seq.extension}"),
                                            pad_style=PAD_STYLE)
    except (fileseq.FileSeqException, OSError):
        return None
    found = [s for s in found if s.padding()]
    return max(found, key=lambda s: len(s.frameSet())) if found else None


# -- headers -----------------------------------------------------------------------------------

def check_inputs(shot: Shot, colorspace_given: bool = False) -> List[str]:
    """Raise ``ImageError`` naming the first problem with the shot's input frames.

    Returns the input sequences checked.
    """
    frames = list(shot.process_frames)
    inputs = shot.inputs()
    for role, seq in inputs:
        check_frames(role, seq, frames, shot.handles)
    plate_seq = shot.plate_sequence
    first = _header("plate", plate_seq.path(frames[0]))
    for frame in frames[1:]:
        spec = _header("plate", plate_seq.path(frame))
        if spec.display_window != first.display_window:
            raise ImageError(f"plate: frame {frame} has format {_format(spec)} but frame {frames[0]} has "
                             f"{_format(first)}; a shot must keep one format")
    channels = {f"remove/{i}": m.channel for i, m in enumerate(shot.remove)}
    channels.update({f"affected/{i}": m.channel for i, m in enumerate(shot.affected)})
    for role, seq in inputs[1:]:
        for frame in frames:
            _check_matte(role, seq.path(frame), channels.get(role), first)
    for role, channel in channels.items():
        if not any(r == role for r, _ in inputs) and channel not in first.channels:
            raise ImageError(f"{role}: the plate has no channel {channel!r} (it has "
                             f"{', '.join(first.channels)}); export the matte into the plate or name "
                             "another channel")
    settle_colorspace(shot, plate_encoding(plate_seq.path(frames[0])), colorspace_given)  # integer plates need one
    return [seq.pattern for _, seq in inputs]


def _header(role: str, path: str) -> ImageSpec:
    try:
        return read_spec(path)
    except ImageError as exc:
        raise ImageError(f"{role}: {path} cannot be read ({_reason(exc.message, path)}); re-render or replace "
                         "it", detail={"role": role, "path": path}) from None


def _reason(message: str, path: str) -> str:
    """OpenImageIO's wording without the path it repeats (``cannot open X: Could not open "X" (...)``)."""
    text = message.split(": ", 1)[1] if message.startswith(f"cannot open {path}") else message
    text = re.sub(r'(Could not open )?"?' + re.escape(path) + r'"?:?\s*', "", text).strip()
    return text.strip("() ") or "unreadable"


def _format(spec: ImageSpec) -> str:
    return f"{spec.full_width}x{spec.full_height}"


def _check_matte(role: str, path: str, channel: Optional[str], plate: ImageSpec) -> None:
    spec = _header(role, path)
    if spec.display_window != plate.display_window:
        raise ImageError(f"{role}: {path} has format {_format(spec)} but the plate is {_format(plate)}; "
                         "render the matte at plate resolution")
    if channel is not None:
        if channel not in spec.channels:
            raise ImageError(f"{role}: {path} has no channel {channel!r} (it has {', '.join(spec.channels)})")
    elif "A" not in spec.channels and len(spec.channels) != 1:
        raise ImageError(f"{role}: {path} has channels {', '.join(spec.channels)} but no alpha; name the "
                         "matte channel in the shot file")


# -- colour ------------------------------------------------------------------------------------

def plate_encoding(path: str) -> PlateEncoding:
    """How ``path`` stores its pixels, from its header."""
    from .exrio import oiio

    inp = oiio.ImageInput.open(path) if oiio is not None else None
    if inp is None:
        read_spec(path)  # raises the error that says why
        raise ImageError(f"cannot open {path}")
    try:
        spec = inp.spec()
        base = spec.format.basetype
        floating = base in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE)
        return PlateEncoding(format=inp.format_name(), bits=spec.format.size() * 8, floating=floating,
                             colorspace=spec.get_string_attribute("oiio:ColorSpace", ""))
    finally:
        inp.close()


def settle_colorspace(shot: Shot, encoding: PlateEncoding, colorspace_given: bool = False) -> Tuple[Shot, List[str]]:
    """The shot with the plate's real colour space, and notes saying what will be converted.

    Float plates are taken as the shot says (scene-linear unless told otherwise). Integer
    plates hold display- or log-encoded values: their colour space is the one the user gave,
    else the one their header names, else the shot is refused.
    """
    if encoding.floating:
        return shot, []
    pattern = shot.plate_sequence.nuke_pattern()
    if colorspace_given or not is_linear_srgb(shot.colorspace):
        space = shot.colorspace
        where = "as given"
    elif encoding.colorspace and not is_linear_srgb(encoding.colorspace):
        space = encoding.colorspace
        where = "as its header says"
        shot = shot.with_changes(colorspace=space)
    else:
        raise ImageError(f"plate: {pattern} ({encoding.describe()}) names no colour space in its header, and "
                         "integer pixels are not scene-linear. Give its colour space with --colorspace "
                         "(e.g. --colorspace 'sRGB Encoded Rec.709 (sRGB)', or the shot file's colorspace), "
                         "or convert the plate to a linear EXR.", detail={"field": "colorspace"})
    if is_linear_srgb(space):
        return shot, [f"plate: {pattern} ({encoding.describe()}) is taken as scene-linear ({space}), as given"]
    return shot, [f"plate: {pattern} ({encoding.describe()}) is in {space!r} ({where}); the server converts it "
                  f"to scene-linear {SCENE_LINEAR!r} through OpenColorIO, and the results are linear EXRs. "
                  "Give --colorspace to name another source colour space."]
