"""Which part of the plate the model sees, and how its result goes back.

``roi`` mode crops the edit region (every quadmask pixel that is not 255, over
the whole segment), padded for context and grown to the model's aspect, and
never smaller than the model frame, so a 4K plate keeps its detail where it
is edited. ``full`` mode takes the whole frame. The crop then fills the model
frame in one of two ways (the engine option ``fit``):

* ``stretch`` (default): resized to the model frame whatever its aspect, as the
  reference resizes any video to 384x672, so the model sees exactly what the
  reference would show it. A 16:9 plate is squeezed by 1.6 %;
* ``letterbox``: scaled to fit without distortion, and what does not fill the
  frame is padded by mirroring the crop, the quadmask included, so an object
  near the edge is also removed from its mirror image rather than copied back
  from it. For plates far from the model's 7:4 (4:3, 2.39:1 scope).

ROI crops are at the model's aspect (unless the plate is smaller than that), so
there the two agree. Aspects are display aspects: on an anamorphic plate (pixel
aspect 2, say) a crop holds half as many pixels across as a square-pixel crop of
the same shape on screen, so the model sees the picture unsqueezed, as the
compositor does. Downscaling uses the reference's area resize; the result
is scaled back to the crop with bicubic interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from void_server.modelspace import area_resize, model_mask

Box = Tuple[int, int, int, int]
"""(x0, y0, x1, y1), end-exclusive, in data-window pixels (y down)."""
FITS = ("stretch", "letterbox")
"""How a crop fills the model frame: the reference's stretch, or undistorted with mirrored bands."""


@dataclass(frozen=True)
class Framing:
    box: Box
    """The crop of the plate."""
    inner: Box
    """Where the scaled crop lands inside the model frame."""
    size: Tuple[int, int]
    """(height, width) of the model frame."""

    def _pad(self, frames: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.inner
        pad = [(0, 0), (y0, self.size[0] - y1), (x0, self.size[1] - x1)] + [(0, 0)] * (frames.ndim - 3)
        return np.pad(frames, pad, mode="symmetric")

    def crop(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return frame[y0:y1, x0:x1]

    def video_to_model(self, frames: np.ndarray) -> np.ndarray:
        """(T, h, w, 3) crops of display-referred RGB → (T, H, W, 3) model frames in [0, 1]."""
        x0, y0, x1, y1 = self.inner
        return np.clip(self._pad(area_resize(frames, (y1 - y0, x1 - x0))), 0.0, 1.0)

    def mask_to_model(self, quadmasks: np.ndarray) -> np.ndarray:
        """(T, h, w) uint8 quadmask crops → (T, H, W) model mask (see ``modelspace.model_mask``)."""
        x0, y0, x1, y1 = self.inner
        return self._pad(model_mask(quadmasks, (y1 - y0, x1 - x0)))

    def from_model(self, frame: np.ndarray) -> np.ndarray:
        """One (H, W, 3) model result → the crop's (h, w, 3), clipped to [0, 1]."""
        x0, y0, x1, y1 = self.inner
        bx0, by0, bx1, by1 = self.box
        region = np.ascontiguousarray(frame[y0:y1, x0:x1], dtype=np.float32)
        resized = cv2.resize(region, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_CUBIC)
        return np.clip(resized, 0.0, 1.0)


def edit_box(quadmask: np.ndarray) -> Optional[Box]:
    """Bounding box of the quadmask pixels that are not 255, or None when there are none."""
    rows = np.flatnonzero((quadmask != 255).any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero((quadmask != 255).any(axis=0))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def union(a: Optional[Box], b: Optional[Box]) -> Optional[Box]:
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _fit(length: int, center: float, limit: int) -> Tuple[int, int]:
    """A span of ``length`` (at most ``limit``) centred on ``center``, shifted inside [0, limit)."""
    length = min(length, limit)
    start = int(round(center - length / 2))
    start = max(0, min(start, limit - length))
    return start, start + length


def roi_box(edit: Box, plate: Tuple[int, int], size: Tuple[int, int], margin: float,
            pixel_aspect: float = 1.0) -> Box:
    """The crop around ``edit``: padded by ``margin`` x its longer side, at the model's display
    aspect, at least the model frame, inside the plate (where the plate is too small, narrower).

    ``pixel_aspect`` is the plate's pixel width over height; spans across are measured on screen
    (pixels x ``pixel_aspect``) so that an anamorphic crop shows the model an unsqueezed picture.
    """
    height, width = plate
    x0, y0, x1, y1 = edit
    pad = max(16.0, margin * max((x1 - x0) * pixel_aspect, y1 - y0))
    aspect = size[1] / size[0]
    # in display units (x already multiplied by the pixel aspect)
    want_w = max((x1 - x0) * pixel_aspect + 2 * pad, (y1 - y0 + 2 * pad) * aspect, size[1])
    want_h = want_w / aspect
    want_w /= pixel_aspect
    bx0, bx1 = _fit(int(np.ceil(want_w)), (x0 + x1) / 2, width)
    by0, by1 = _fit(int(np.ceil(want_h)), (y0 + y1) / 2, height)
    return (bx0, by0, bx1, by1)


def fit_box(box: Box, size: Tuple[int, int], fit: str = "stretch", pixel_aspect: float = 1.0) -> Framing:
    """Fit ``box`` into a model frame of ``size`` (height, width): stretched to fill it, or letterboxed
    (its display aspect kept, centred)."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if fit == "stretch":
        return Framing(box=box, inner=(0, 0, size[1], size[0]), size=size)
    bw, bh = (box[2] - box[0]) * pixel_aspect, box[3] - box[1]
    scale = min(size[1] / bw, size[0] / bh)
    iw = min(size[1], max(1, int(round(bw * scale))))
    ih = min(size[0], max(1, int(round(bh * scale))))
    ox, oy = (size[1] - iw) // 2, (size[0] - ih) // 2
    return Framing(box=box, inner=(ox, oy, ox + iw, oy + ih), size=size)


def choose_framing(mode: str, edit: Box, plate: Tuple[int, int], size: Tuple[int, int],
                   margin: float, fit: str = "stretch", pixel_aspect: float = 1.0) -> Framing:
    """``roi``, ``full``, or ``auto`` (roi when the plate is larger than the model frame), fitted by ``fit``;
    ``pixel_aspect`` is the plate's (see ``roi_box``)."""
    if mode == "auto":
        mode = "roi" if plate[0] > size[0] or plate[1] > size[1] else "full"
    box = roi_box(edit, plate, size, margin, pixel_aspect) if mode == "roi" else (0, 0, plate[1], plate[0])
    return fit_box(box, size, fit, pixel_aspect)
