"""Optical flow on the background: estimated around the edit region, completed through it, and followed.

Inside an edit region the plate's own motion is the object's (or, in the
affected region, the falling cup's), not the background's. As ProPainter and
E2FGVI do before they propagate pixels, the flow there is *completed* from the
flow around the region: the region is first filled with a smooth guess in both
images so the object neither drags the estimate nor gets matched with itself,
then every vector in or near it, or landing in the other frame's region, is
replaced by a robust affine model of the surrounding background motion plus a
smooth fill of what the model leaves over.

Flow is only estimated between consecutive frames, at a reduced resolution;
``Track`` follows points from one frame through the frames before or after it
by chaining those flows, checking at every step that the flow back agrees.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from .sampling import sample

FILL_CELL = 4
"""Smooth fills (flow residuals, luminance under holes) work on cells of this many pixels."""
FLOW_GUARD = 4
"""Flow vectors this close (flow-resolution pixels) to a hole are not trusted:
the flow's patches overlap the hole."""
RING = 24
"""Width, in flow-resolution pixels, of the band of trusted motion around a hole
that the affine background model is fitted to."""
_MODEL_POINTS = 4000
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 / sRGB primaries


def tone_map_luma(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB → 8-bit luminance for optical flow.

    A fixed curve (Reinhard, then a 2.2 gamma) so every frame maps the same way
    and highlights above 1 keep their detail instead of clipping.
    """
    lum = np.nan_to_num(rgb.astype(np.float32, copy=False) @ _LUMA, nan=0.0, posinf=1e6, neginf=0.0)
    lum = np.maximum(lum, 0.0)
    mapped = np.power(lum / (1.0 + lum), 1.0 / 2.2)
    return np.clip(mapped * 255.0 + 0.5, 0, 255).astype(np.uint8)


def disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def pair_flows(dis: cv2.DISOpticalFlow, luma_a: np.ndarray, hole_a: np.ndarray, luma_b: np.ndarray,
               hole_b: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Background flows a→b and b→a (float32 (h, w, 2)), completed over both frames' holes.

    ``luma_*`` are uint8 luminance images, ``hole_*`` uint8 masks (nonzero: edit region).
    """
    both = np.maximum(hole_a, hole_b)
    filled_a, filled_b = fill_luma(luma_a, both), fill_luma(luma_b, both)
    guard = cv2.dilate(both, disk(FLOW_GUARD))
    fwd = dis.calc(filled_a, filled_b, None)
    bwd = dis.calc(filled_b, filled_a, None)
    return complete_flow(fwd, guard, hole_b), complete_flow(bwd, guard, hole_a)


def fill_luma(luma: np.ndarray, hole: np.ndarray) -> np.ndarray:
    filled = fill_smooth(luma.astype(np.float32)[:, :, None], hole)[:, :, 0]
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


def complete_flow(flow: np.ndarray, untrusted: np.ndarray, target_hole: np.ndarray) -> np.ndarray:
    """Replace the vectors in ``untrusted``, or landing in ``target_hole``, from the trusted rest.

    The replacement is an affine model of the motion in a band around the
    untrusted pixels (fitted with RANSAC, so stray foreground motion in the band
    does not bend it) plus a smooth fill of the trusted residual. ``flow`` is
    changed in place and returned.
    """
    height, width = untrusted.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    lands_in_hole = cv2.remap(target_hole, flow[:, :, 0] + grid_x, flow[:, :, 1] + grid_y, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    unknown = np.maximum(untrusted, lands_in_hole)
    count = cv2.countNonZero(unknown)
    if not count:
        return flow
    if count == unknown.size:
        flow[...] = 0
        return flow
    model = _background_model(flow, unknown)
    if model is None:
        return fill_smooth(flow, unknown)
    x0, y0, w, h = _padded_box(unknown, 4 * FILL_CELL)
    region = flow[y0:y0 + h, x0:x0 + w]
    model_field = _affine_field(model, x0, y0, w, h)
    residual = region - model_field
    fill_smooth(residual, unknown[y0:y0 + h, x0:x0 + w])
    np.copyto(region, model_field + residual, where=unknown[y0:y0 + h, x0:x0 + w, None] > 0)
    return flow


def _background_model(flow: np.ndarray, unknown: np.ndarray) -> "np.ndarray | None":
    """An affine motion model (2x3) fitted to the trusted vectors in a band around ``unknown``."""
    ring = cv2.dilate(unknown, disk(RING))
    ring[unknown > 0] = 0
    ys, xs = np.nonzero(ring)
    if len(xs) < 12:
        return None
    step = max(1, len(xs) // _MODEL_POINTS)
    ys, xs = ys[::step], xs[::step]
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    dst = src + flow[ys, xs]
    model, _ = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                    maxIters=500, confidence=0.99, refineIters=10)
    if model is None or not np.isfinite(model).all():
        return None
    return model.astype(np.float32)


def _affine_field(model: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """The displacement the affine ``model`` gives each pixel of the box (x0, y0, w, h)."""
    xs, ys = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float32), np.arange(y0, y0 + h, dtype=np.float32))
    dx = model[0, 0] * xs + model[0, 1] * ys + model[0, 2] - xs
    dy = model[1, 0] * xs + model[1, 1] * ys + model[1, 2] - ys
    return np.dstack([dx, dy])


def _padded_box(mask: np.ndarray, pad: int) -> Tuple[int, int, int, int]:
    bx, by, bw, bh = cv2.boundingRect(mask)
    x0, y0 = max(0, bx - pad), max(0, by - pad)
    x1, y1 = min(mask.shape[1], bx + bw + pad), min(mask.shape[0], by + bh + pad)
    return x0, y0, x1 - x0, y1 - y0


def fill_smooth(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` (uint8, nonzero = unknown) of float32 ``values`` (H, W, C) in place, smoothly.

    For fields that are smooth inside the hole (background motion, its residual
    from a model) or need only be plausible there (the luminance the flow sees):
    known values are averaged onto a grid FILL_CELL times coarser, the cells
    with too little known data are inpainted there (cheap: few pixels), and the
    result is upsampled into the hole; known pixels are kept.
    """
    count = cv2.countNonZero(hole)
    if not count:
        return values
    if count == hole.size:
        values[...] = 0
        return values
    x0, y0, w, h = _padded_box(hole, 4 * FILL_CELL)  # known context the coarse inpainting reads
    unknown = hole[y0:y0 + h, x0:x0 + w] > 0
    patch = values[y0:y0 + h, x0:x0 + w]
    coarse_size = (-(-w // FILL_CELL), -(-h // FILL_CELL))
    known = (~unknown).astype(np.float32)
    weight = cv2.resize(known, coarse_size, interpolation=cv2.INTER_AREA)
    total = cv2.resize(patch * known[:, :, None], coarse_size, interpolation=cv2.INTER_AREA)
    coarse = total.reshape(coarse_size[1], coarse_size[0], -1) / np.maximum(weight, 1e-6)[:, :, None]
    sparse = (weight < 0.5).astype(np.uint8)
    if sparse.any() and not sparse.all():
        coarse = np.stack([cv2.inpaint(np.ascontiguousarray(coarse[:, :, c]), sparse, 2.0, cv2.INPAINT_NS)
                           for c in range(coarse.shape[2])], axis=-1)
    smooth = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    np.copyto(patch, smooth, where=unknown[:, :, None])
    return values


def consistent(fx: np.ndarray, fy: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Forward-backward check: a vector (fx, fy) and the reverse flow (bx, by) where it lands must cancel.

    The tolerance grows with the motion (Sundaram, Brox and Keutzer 2010).
    """
    err = (fx + bx) ** 2 + (fy + by) ** 2
    return err <= 0.01 * (fx * fx + fy * fy + bx * bx + by * by) + 0.5


class Track:
    """Points of one frame followed, frame by frame, through the frames before or after it.

    Coordinates are at flow resolution. A point stays ``alive`` while it lies
    inside the frame and every step's flow back returns it to where it came from;
    once lost (occluded, or out of frame) it stays lost and is no longer moved.
    """

    def __init__(self, xs: np.ndarray, ys: np.ndarray, size: Tuple[int, int]) -> None:
        self.xs = xs.astype(np.float32).copy()
        self.ys = ys.astype(np.float32).copy()
        self.alive = np.ones(len(xs), bool)
        self._width, self._height = size

    def step(self, forward: np.ndarray, backward: np.ndarray) -> None:
        """Move every point by ``forward`` (this frame → the next one along the track), checked by ``backward``.

        ``xs`` and ``ys`` are replaced by new arrays, never changed in place.
        """
        moving = np.flatnonzero(self.alive)
        fwd = sample(forward, self.xs[moving], self.ys[moving])
        xs, ys = self.xs.copy(), self.ys.copy()
        xs[moving] += fwd[:, 0]
        ys[moving] += fwd[:, 1]
        mx, my = xs[moving], ys[moving]
        bwd = sample(backward, mx, my)
        ok = (mx >= 0) & (mx <= self._width - 1) & (my >= 0) & (my <= self._height - 1)
        ok &= consistent(fwd[:, 0], fwd[:, 1], bwd[:, 0], bwd[:, 1])
        self.alive[moving] = ok
        self.xs, self.ys = xs, ys
