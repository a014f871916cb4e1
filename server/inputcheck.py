"""Server-side checks of the frames a job reads: consistent sequences, finite plates, something to remove.

- Every frame of a sequence must agree with the others (channels, pixel type,
  data window, format); a plate must carry R, G and B; a matte its matte
  channel. An odd frame is refused with a message naming it: uploads are
  checked as each FRAME arrives, shared-storage inputs when the job starts.
- Non-finite plate values (NaN, ±infinity) cannot feed an engine. The chosen
  behaviour (docs/security.md): the engine sees them replaced (NaN → 0,
  ±inf → ±65504, the largest half-float), the fill replaces them inside the
  edit region and its feather, and beyond it the plate's own values are kept bit
  for bit. The job ends ``done`` with a warning naming the frames.
- A matte that removes nothing on any frame ends the job ``failed``
  (``empty_mask``) instead of a silent result equal to the plate.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from void_nuke.errors import ImageError, ProtocolError, shorten
from void_nuke.exrio import Image, ImageSpec, read_spec
from void_nuke.limits import MAX_IMAGE_ATTRIBUTES, MAX_LABEL_CHARS, MAX_TEXT_CHARS
from void_nuke.shot import Shot

HALF_MAX = 65504.0
MAX_COORDINATE = 1 << 30
_INT32 = (-(1 << 31), (1 << 31) - 1)


class InconsistentFrame(ImageError):
    code = "inconsistent_frame"


def check_wire_spec(spec: ImageSpec, what: str) -> None:
    """An image description received over the wire: sane geometry and plain header attributes."""
    numbers = (spec.x, spec.y, spec.full_x, spec.full_y, spec.full_width, spec.full_height)
    if any(abs(v) > MAX_COORDINATE for v in numbers) or spec.full_width <= 0 or spec.full_height <= 0:
        raise ProtocolError(f"{what}: data or display window out of range", code="bad_frame")
    if len(spec.attributes) > MAX_IMAGE_ATTRIBUTES:
        raise ProtocolError(f"{what}: {len(spec.attributes)} header attributes; the limit is "
                            f"{MAX_IMAGE_ATTRIBUTES}", code="bad_frame")
    for name, value in spec.attributes.items():
        ok = isinstance(name, str) and len(name) <= MAX_LABEL_CHARS and (
            (isinstance(value, str) and len(value) <= MAX_TEXT_CHARS) or isinstance(value, float)
            or (isinstance(value, int) and not isinstance(value, bool) and _INT32[0] <= value <= _INT32[1]))
        if not ok:
            raise ProtocolError(f"{what}: header attribute {shorten(name)} must be a short text or a number, "
                                f"got {shorten(value)}", code="bad_frame")
    if any(len(c) > MAX_LABEL_CHARS for c in spec.channels):
        raise ProtocolError(f"{what}: a channel name is over {MAX_LABEL_CHARS} characters", code="bad_frame")


def role_label(role: str) -> str:
    """``remove/0`` → ``remove matte 1``: how a user knows the sequence."""
    if "/" not in role:
        return role
    key, index = role.split("/", 1)
    return f"{key} matte {int(index) + 1}" if index.isdigit() else role


def _window(spec: ImageSpec) -> str:
    return f"{spec.width}x{spec.height} at ({spec.x}, {spec.y})"


def describe_mismatch(role: str, frame: int, spec: ImageSpec, reference: Optional[ImageSpec],
                      channel: Optional[str] = None, plate: Optional[ImageSpec] = None) -> Optional[str]:
    """Why frame ``frame`` of ``role`` does not fit its sequence (``reference``), or None."""
    label = role_label(role)
    if role == "plate":
        lacking = [c for c in ("R", "G", "B") if c not in spec.channels]
        if lacking:
            return (f"plate frame {frame} has channels {', '.join(spec.channels)}: a plate needs R, G and B "
                    f"(missing {', '.join(lacking)}). Send the RGB(A) plate, with mattes as their own inputs")
    elif channel is not None:
        if channel not in spec.channels:
            return (f"{label} frame {frame} has no channel {channel!r} (it has {', '.join(spec.channels)}); "
                    "name the channel that holds the matte")
    elif "A" not in spec.channels and len(spec.channels) != 1:
        return (f"{label} frame {frame} has channels {', '.join(spec.channels)} but no alpha; name the matte "
                "channel (e.g. --remove-channel R)")
    if plate is not None and role != "plate" and spec.display_window != plate.display_window:
        return (f"{label} frame {frame} has format {spec.full_width}x{spec.full_height} but the plate's is "
                f"{plate.full_width}x{plate.full_height}; render the matte at plate resolution")
    if reference is None:
        return None
    problems = []
    if spec.channels != reference.channels:
        problems.append(f"channels {', '.join(spec.channels)} instead of {', '.join(reference.channels)}")
    if spec.display_window != reference.display_window:
        problems.append(f"format {spec.full_width}x{spec.full_height} instead of "
                        f"{reference.full_width}x{reference.full_height}")
    if role == "plate":
        if spec.data_window != reference.data_window:
            problems.append(f"data window {_window(spec)} instead of {_window(reference)}")
        if spec.dtype != reference.dtype:
            problems.append(f"{spec.dtype} pixels instead of {reference.dtype}")
    if not problems:
        return None
    return (f"{label} frame {frame} does not match the rest of its sequence: {'; '.join(problems)}. "
            "Every frame of a sequence needs the same channels and format (a plate also the same data window "
            "and pixel type); re-render the odd frames")


def _read_header(role: str, frame: int, path: str) -> ImageSpec:
    """A frame's header; a frame that cannot be read is named with its role and number."""
    try:
        return read_spec(path)
    except ImageError as exc:
        raise ImageError(f"{role_label(role)} frame {frame} cannot be read: {exc.message}. Re-render it, or narrow "
                         "the frame range", detail={"role": role, "frame": frame, "path": path}) from None


def check_sequences(shot: Shot, frames: Sequence[int]) -> None:
    """Read every input frame's header and refuse the first that does not fit its sequence."""
    plate: Optional[ImageSpec] = None
    channels = {f"{key}/{i}": m.channel for key, mattes in (("remove", shot.remove), ("affected", shot.affected))
                for i, m in enumerate(mattes)}
    for role, seq in shot.inputs():
        reference: Optional[ImageSpec] = None
        for frame in frames:
            spec = _read_header(role, frame, seq.path(frame))
            problem = describe_mismatch(role, frame, spec, reference, channels.get(role), plate)
            if problem:
                raise InconsistentFrame(problem, detail={"role": role, "frame": frame})
            reference = reference or spec
        if role == "plate":
            plate = reference


# -- non-finite plates ----------------------------------------------------------------------

def finite_plate(image: Image) -> Tuple[Image, int]:
    """``image`` with NaN/±inf replaced in R, G, B, and how many pixels held one (0: ``image`` itself)."""
    rgb = [image.spec.channels.index(c) for c in ("R", "G", "B") if c in image.spec.channels]
    bad = ~np.isfinite(image.pixels[:, :, rgb]).all(axis=2)
    count = int(bad.sum())
    if not count:
        return image, 0
    pixels = image.pixels.copy()
    pixels[:, :, rgb] = np.nan_to_num(pixels[:, :, rgb], nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)
    return replace(image, pixels=pixels), count


def finite_rgb(rgb: np.ndarray) -> np.ndarray:
    """Float RGB with NaN/±inf replaced, for an engine's input."""
    if np.isfinite(rgb).all():
        return rgb
    return np.nan_to_num(rgb, nan=0.0, posinf=HALF_MAX, neginf=-HALF_MAX)


def keep_plate_outside(result: Image, plate: Image, alpha: np.ndarray) -> None:
    """Restore the plate's own values (NaN included) wherever the edit alpha is 0."""
    outside = alpha <= 0.0
    n = len(plate.spec.channels)
    result.pixels[:, :, :n][outside] = plate.pixels[outside]


def nonfinite_warning(counts: Dict[int, int]) -> Dict[str, Any]:
    frames = sorted(counts)
    shown = ", ".join(str(f) for f in frames[:10]) + (" ..." if len(frames) > 10 else "")
    return {"code": "nonfinite_plate",
            "message": f"the plate holds NaN or infinite values on {len(frames)} frame(s) ({shown}; "
                       f"{sum(counts.values())} pixels): the engine saw them as 0 (NaN) or ±65504 (inf), the "
                       "fill replaced them inside the edit region, and outside it the plate's values are kept "
                       "as they are. Fix the plate upstream if those pixels matter",
            "detail": {"frames": frames[:1000], "pixels": sum(counts.values())}}


# -- empty mattes ---------------------------------------------------------------------------

REMOVE, OVERLAP = 0, 63


def removes_something(quadmask: np.ndarray) -> bool:
    return bool(((quadmask == REMOVE) | (quadmask == OVERLAP)).any())


def nothing_to_remove(shot: Shot, frames: List[int]) -> ImageError:
    sources = [f"remove matte {i + 1} ({m.pattern or 'plate channel ' + str(m.channel)})"
               for i, m in enumerate(shot.remove)]
    sources += [f"shape {s.name!r}" for s in shot.shapes if s.role == "remove"]
    if shot.prompts:
        sources.append("the clicked points (SAM2)")
    return ImageError(f"nothing to remove: the remove region is empty on every frame ({frames[0]}-{frames[-1]}); "
                      f"sources: {', '.join(sources) or 'none'}. Check the matte's channel, its invert setting "
                      f"and masks.threshold ({shot.masks.threshold:g}): a matte value must be above it to count",
                      code="empty_mask", detail={"frames": [frames[0], frames[-1]]})
