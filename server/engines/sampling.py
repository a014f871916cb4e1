"""Bilinear sampling of an image at arbitrary points, for any number of points and any image size.

``cv2.remap`` is fast but refuses maps or images with 32,767 rows or columns
or more (``dst.rows < SHRT_MAX``): a plain one-column map of one row per point
fails for 32,767 points, which a 4K edit region exceeds many times over. Here the
points are laid out as a map of bounded width and height, in chunks, and images
too large for OpenCV on either side are sampled by NumPy instead.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

OPENCV_MAX_SIDE = 32766
"""The largest side (rows or columns) OpenCV's remap accepts for its maps and images (SHRT_MAX - 1)."""
MAP_COLS = 4096
"""Width of the point maps handed to remap; a chunk is at most MAP_COLS x MAP_ROWS points."""
MAP_ROWS = 4096


def sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at the points (xs, ys), as float32 ``(N, C)``; one row per point.

    Coordinates are in pixels (pixel centres at integers); points outside the
    image take the nearest edge pixel's value. ``image`` is (H, W) or (H, W, C).
    """
    xs = np.asarray(xs, np.float32).ravel()
    ys = np.asarray(ys, np.float32).ravel()
    channels = 1 if image.ndim == 2 else image.shape[2]
    if len(xs) == 0:
        return np.zeros((0, channels), np.float32)
    if max(image.shape[:2]) > OPENCV_MAX_SIDE or channels > 4:
        return _sample_numpy(image, xs, ys)
    src = image if image.dtype == np.float32 else image.astype(np.float32)
    out = np.empty((len(xs), channels), np.float32)
    chunk = MAP_COLS * MAP_ROWS
    for start in range(0, len(xs), chunk):
        stop = min(start + chunk, len(xs))
        out[start:stop] = _remap_points(src, xs[start:stop], ys[start:stop], channels)
    return out


def _remap_points(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, channels: int) -> np.ndarray:
    count = len(xs)
    cols = min(count, MAP_COLS)
    rows = -(-count // cols)
    map_x = np.zeros(rows * cols, np.float32)
    map_y = np.zeros(rows * cols, np.float32)
    map_x[:count], map_y[:count] = xs, ys
    got = cv2.remap(image, map_x.reshape(rows, cols), map_y.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return got.reshape(rows * cols, channels)[:count]


def _sample_numpy(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The same bilinear sampling in NumPy (float weights), for images OpenCV cannot take."""
    height, width = image.shape[:2]
    flat = image.reshape(height, width, -1)
    x = np.clip(xs, 0, width - 1)
    y = np.clip(ys, 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(width - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(height - 2, 0))
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx = (x - x0)[:, None].astype(np.float32)
    fy = (y - y0)[:, None].astype(np.float32)
    top = flat[y0, x0] * (1 - fx) + flat[y0, x1] * fx
    bottom = flat[y1, x0] * (1 - fx) + flat[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def any_tap(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool (H, W)) grown so that ``any_tap(mask)[floor(y), floor(x)]`` says whether
    any of the four pixels a bilinear sample at (x, y) reads is in ``mask``."""
    grown = mask.copy()
    grown[:, :-1] |= mask[:, 1:]
    grown[:-1, :] |= grown[1:, :].copy()
    return grown


def floor_index(xs: np.ndarray, ys: np.ndarray, shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top-left bilinear tap (row, col) of each point, clipped into ``shape``, and which points lie
    inside the image (0 <= x <= W-1, 0 <= y <= H-1)."""
    height, width = shape
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    cols = np.clip(np.floor(xs), 0, width - 1).astype(np.intp)
    rows = np.clip(np.floor(ys), 0, height - 1).astype(np.intp)
    return rows, cols, inside
