"""The quadmask: remove and affected mattes merged into VOID's four values.

Classes (VOID's convention, spec §2.1): 0 remove, 63 overlap (remove and
affected), 127 affected (must change with the removal: shadows, reflections,
things that fall or move), 255 keep. Everything here works at plate
resolution; ``modelspace`` takes the result to the model's 384x672.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from void_nuke.display import QUADMASK_COLOURS
from void_nuke.errors import ImageError
from void_nuke.shot import MaskSettings

REMOVE, OVERLAP, AFFECTED, KEEP = 0, 63, 127, 255
CLASSES = {"remove": REMOVE, "overlap": OVERLAP, "affected": AFFECTED, "keep": KEEP}

FIRST_FRAME_RULE_ENGINES = frozenset({"void"})
"""Engines that follow VOID's first-frame rule (``masks.clear_affected_first_frame``).

The rule is a convention of VOID's training data, not of the scene: the
classic engine restores the background under the affected region on every
frame, the first included, so a shadow present from frame one goes there too."""

PREVIEW_COLOURS = QUADMASK_COLOURS
"""The preview colour of each class (shared with the client's contact sheets)."""

_VALID = np.zeros(256, bool)
_VALID[[REMOVE, OVERLAP, AFFECTED, KEEP]] = True
_COLOUR_LUT = np.zeros((256, 3), np.uint8)
for _name, _value in CLASSES.items():
    _COLOUR_LUT[_value] = PREVIEW_COLOURS[_name]


def _union(mattes: Sequence[np.ndarray], threshold: float, shape: Tuple[int, int]) -> np.ndarray:
    """Pixels inside any matte (value above ``threshold``)."""
    inside = np.zeros(shape, bool)
    for matte in mattes:
        inside |= np.asarray(matte) > threshold
    return inside


def _grow(region: np.ndarray, radius: int) -> np.ndarray:
    """``region`` grown by a disc of ``radius`` pixels (Euclidean).

    This is dilation by an elliptical (disc) structuring element. It is computed
    as a precise distance transform thresholded at ``radius``, whose cost does
    not depend on the radius (a kernel dilation costs about r^2 per pixel:
    tens of seconds at r = 256 on a 4K plate), and only over the region's
    bounding box grown by ``radius``.
    """
    rows, cols = np.nonzero(region)
    if radius <= 0 or rows.size == 0:
        return region
    height, width = region.shape
    r0, r1 = max(rows.min() - radius, 0), min(rows.max() + radius + 1, height)
    c0, c1 = max(cols.min() - radius, 0), min(cols.max() + radius + 1, width)
    outside = (~region[r0:r1, c0:c1]).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    grown = region.copy()
    grown[r0:r1, c0:c1] = distance <= radius
    return grown


def build_quadmask(remove: Sequence[np.ndarray], affected: Sequence[np.ndarray], settings: MaskSettings,
                   first_frame: bool, shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """One frame's quadmask, uint8 (H, W), from float mattes at plate resolution.

    Each input is an alpha (H, W) from any source (matte files, SAM2 masks,
    rasterised shapes). A pixel is inside a role when any of its mattes is
    above ``settings.threshold``; the remove region is then grown by
    ``settings.dilate_remove`` pixels. Combination: remove only -> 0, remove
    and affected -> 63, affected only -> 127, neither -> 255.

    On the first frame, with ``settings.clear_affected_first_frame`` (VOID's
    convention: the model was trained with affected regions only from frame 1
    on; callers pass ``first_frame`` only for ``FIRST_FRAME_RULE_ENGINES``),
    the affected role is cleared: affected -> 255 as the reference's
    stage 4 does, and overlap -> 0, because a pixel that loses its affected
    role is plain remove. The reference leaves 63 there; Pass 1 sees 0 and 63
    alike (both become 1, spec §4.2), so this only sharpens the model-space
    ring at the object's edge.

    ``shape`` gives (H, W) when there are no mattes at all (an all-keep frame).
    """
    mattes = list(remove) + list(affected)
    shapes = {np.shape(m) for m in mattes}
    if shape is not None:
        shapes.add(tuple(shape))
    if not shapes:
        raise ImageError("no mattes for the quadmask and no frame size; pass shape=(height, width)")
    if len(shapes) != 1:
        raise ImageError(f"mattes for one quadmask differ in size: {sorted(shapes)}; resample them "
                         "to the plate's data window first")
    size = shapes.pop()
    if len(size) != 2:
        raise ImageError(f"mattes must be single-channel (H, W) arrays, got shape {size}")
    is_remove = _grow(_union(remove, settings.threshold, size), settings.dilate_remove)
    is_affected = _union(affected, settings.threshold, size)
    if first_frame and settings.clear_affected_first_frame:
        is_affected[:] = False
    quadmask = np.full(size, KEEP, np.uint8)
    quadmask[is_affected] = AFFECTED
    quadmask[is_remove] = np.where(is_affected[is_remove], OVERLAP, REMOVE).astype(np.uint8)
    return quadmask


def _check(quadmask: np.ndarray) -> np.ndarray:
    q = np.asarray(quadmask)
    if q.dtype != np.uint8 or q.ndim != 2:
        raise ImageError(f"a quadmask is a uint8 (H, W) array, got {q.dtype} {q.shape}")
    if not _VALID[q].all():
        bad = sorted(set(np.unique(q).tolist()) - set(CLASSES.values()))
        raise ImageError(f"quadmask holds values {bad[:8]} outside 0, 63, 127, 255; build it with "
                         "build_quadmask or snap it with modelspace.quantize_quadmask")
    return q


def quadmask_stats(quadmask: np.ndarray) -> Dict[str, Any]:
    """Pixel count and fraction per class, and the edit region's bounding box.

    Returns plain ints/floats/lists (ready for EXR metadata or JSON):
    ``{"pixels": N, "remove": n, "remove_fraction": f, ... for overlap,
    affected, keep, "bbox": [x, y, width, height] or None}``; the bbox (in the
    array's pixel coordinates) covers every pixel that is not keep.
    """
    q = _check(quadmask)
    counts = np.bincount(q.ravel(), minlength=256)
    stats: Dict[str, Any] = {"pixels": int(q.size)}
    for name, value in CLASSES.items():
        stats[name] = int(counts[value])
        stats[f"{name}_fraction"] = float(counts[value]) / q.size
    rows = np.flatnonzero((q != KEEP).any(axis=1))
    cols = np.flatnonzero((q != KEEP).any(axis=0))
    stats["bbox"] = None if rows.size == 0 else [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                                                 int(rows[-1] - rows[0] + 1)]
    return stats


def quadmask_to_color(quadmask: np.ndarray) -> np.ndarray:
    """A uint8 (H, W, 3) sRGB preview, one ``PREVIEW_COLOURS`` colour per class."""
    return _COLOUR_LUT[_check(quadmask)]


def mask_layer(quadmask: np.ndarray) -> np.ndarray:
    """The quadmask as float32 (H, W) values / 255, for a ``void.mask`` EXR layer (QC)."""
    return _check(quadmask).astype(np.float32) / np.float32(255.0)
