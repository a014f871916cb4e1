"""VOID's model-space preprocessing, reproduced in numpy.

Every function here mirrors one step of the reference release's input path
(section numbers refer to the VOID inference specification): the
area resize to 384x672 (§3.2), the quadmask quantisation and inversion (§3.3),
the mirrored temporal padding (§3.4) and the two in-pipeline re-quantisations
Pass 1 and Pass 2 apply (§4.2). The engine feeds the model only what these
functions return, so they match the reference bit for bit: the area resize
reproduces torch's arithmetic exactly (tested against torch on random frames,
on quadmasks and at 4K). No torch here: the module is cheap to import and to test.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

MODEL_SIZE: Tuple[int, int] = (384, 672)
"""(height, width) of every frame the model sees (§3.2)."""

WINDOW_FRAMES = 85
"""Pixel frames of one temporal window; also the shortest padded clip (§3.4)."""

MAX_FRAMES = 197
"""Longest clip the reference accepts; longer clips are cut (§3.1)."""

# Quantisation thresholds in raw quadmask space (§3.3): <=31, <=95, <=191, above.
_CLASS_BOUNDS = (31.0, 95.0, 191.0)
_CLASS_VALUES = np.array([0, 63, 127, 255], dtype=np.uint8)


def _windows(n: int, out_len: int) -> Tuple[np.ndarray, np.ndarray]:
    """Start and length of each adaptive-pooling window when ``n`` samples become ``out_len``.

    Output sample ``i`` averages input samples ``[floor(i*n/out), ceil((i+1)*n/out))``,
    torch's ``adaptive_avg_pool`` rule; windows overlap by one sample when the
    ratio is not an integer, and the rule also covers enlarging.
    """
    i = np.arange(out_len, dtype=np.int64)
    start = (i * n) // out_len
    end = -((-(i + 1) * n) // out_len)
    return start, end - start


def _row_major_sums(data: np.ndarray, rows: Tuple[np.ndarray, np.ndarray],
                    cols: Tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Window sums in float32, each accumulated from 0 row by row, left to right.

    That is the order of torch's CPU adaptive-average-pooling kernel, so every
    partial sum, and with it every rounding, is the same as torch's.
    """
    (row_start, row_len), (col_start, col_len) = rows, cols
    extra = (1,) * (data.ndim - 3)
    acc = np.zeros(data.shape[:1] + (row_start.size, col_start.size) + data.shape[3:], dtype=np.float32)
    for dy in range(int(row_len.max())):
        picked_rows = np.take(data, np.minimum(row_start + dy, data.shape[1] - 1), axis=1)
        row_inside = (dy < row_len).reshape((-1, 1) + extra)
        for dx in range(int(col_len.max())):
            values = np.take(picked_rows, np.minimum(col_start + dx, data.shape[2] - 1), axis=2)
            inside = row_inside & (dx < col_len).reshape((1, -1) + extra)
            if not inside.all():
                # a window that has ended adds nothing (x + 0 is exact), as torch never visits it
                values = np.where(inside, values, np.float32(0.0))
            np.add(acc, values, out=acc)
    return acc


def area_resize(frames: np.ndarray, size: Tuple[int, int] = MODEL_SIZE) -> np.ndarray:
    """Resize frames spatially exactly as ``torch.nn.functional.interpolate(mode='area')`` (§3.2).

    ``frames`` is (T, H, W) or (T, H, W, C); ``size`` is the output (height,
    width). Area mode is adaptive average pooling, also for non-integer ratios,
    and the aspect ratio is not preserved (the reference stretches to 384x672).

    The result is bit-identical to torch's float32 CPU kernel: each window is
    summed in float32 from 0, row by row and left to right, and the sum is
    divided by the window height, then by its width. (Pooling rows, then
    columns, rounds in between: 95.0000076 where torch gives 95.0, which moves a
    quadmask pixel into the next class.) Returns float32.
    """
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(f"area_resize expects (T, H, W) or (T, H, W, C) frames, got shape {frames.shape}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"area_resize needs a positive output size, got {size}")
    if frames.shape[1:3] == (height, width):
        return frames.astype(np.float32, copy=True)
    rows = _windows(frames.shape[1], height)
    cols = _windows(frames.shape[2], width)
    extra = (1,) * (frames.ndim - 3)
    sums = _row_major_sums(frames.astype(np.float32, copy=False), rows, cols)
    sums /= rows[1].astype(np.float32).reshape((-1, 1) + extra)
    sums /= cols[1].astype(np.float32).reshape((1, -1) + extra)
    return sums


def quantize_quadmask(values: np.ndarray) -> np.ndarray:
    """Snap raw quadmask values (0..255) to the four classes (§3.3).

    ``<=31 -> 0`` (remove), ``(31, 95] -> 63`` (overlap), ``(95, 191] -> 127``
    (affected), ``>191 -> 255`` (keep). Returns uint8 of the same shape.
    """
    values = np.asarray(values)
    return _CLASS_VALUES[np.searchsorted(np.asarray(_CLASS_BOUNDS), values, side="left")]


def model_mask(quadmask_frames: np.ndarray, size: Tuple[int, int] = MODEL_SIZE) -> np.ndarray:
    """The mask video the reference hands to the pipeline, before padding (§3.3, §3.5).

    Area-resizes the raw quadmask values (T, H, W) as float, quantises them,
    inverts (``255 - v``) and divides by 255, giving float32 (T, h, w) values in
    {1.0 remove, 192/255 overlap, 128/255 affected, 0.0 keep}. Resizing before
    quantising is what puts a thin ring of affected/overlap values around
    every hard remove edge; that ring is part of what the model was fed.
    """
    quadmask_frames = np.asarray(quadmask_frames)
    if quadmask_frames.ndim != 3:
        raise ValueError(f"model_mask expects (T, H, W) quadmask frames, got shape {quadmask_frames.shape}")
    classes = quantize_quadmask(area_resize(quadmask_frames, size))
    return (255 - classes).astype(np.float32) / np.float32(255.0)


def padded_length(length: int, min_length: int = WINDOW_FRAMES, max_length: int = MAX_FRAMES) -> int:
    """Frame count the reference pads (or cuts) a clip of ``length`` frames to (§3.4).

    The smallest ``4k+1 >= length`` is taken, bumped by 4 when ``k`` is even
    (so the latent frame count ``k+1`` is even, as ``patch_size_t = 2`` needs),
    then clamped to ``[min_length, max_length]``.
    """
    if length < 1:
        raise ValueError(f"a clip needs at least one frame, got {length}")
    target = (length // 4) * 4 + 1
    if target < length:
        target += 4
    if (target // 4) % 2 == 0:
        target += 4
    return max(min_length, min(target, max_length))


def mirror_pad(frames: np.ndarray, target: int) -> np.ndarray:
    """Cut or extend ``frames`` along axis 0 to exactly ``target`` frames (§3.4).

    The clip is cut to ``target``, then extended by appending its time-reversed
    copy (so the last frame appears twice at the seam: ..., n-2, n-1, n-1, n-2,
    ...) and cut again, repeatedly, until it is long enough.
    """
    frames = np.asarray(frames)
    if target < 1:
        raise ValueError(f"mirror_pad needs a positive target length, got {target}")
    if frames.shape[0] < 1:
        raise ValueError("mirror_pad needs at least one frame")
    out = frames[:target]
    while out.shape[0] < target:
        out = np.concatenate([out, out[::-1]], axis=0)[:target]
    return out


def pass1_mask(mask: np.ndarray) -> np.ndarray:
    """Pass 1's trimask re-quantisation of a model mask (§4.2, ``use_trimask=True``).

    ``>0.75 -> 1``, ``[0.25, 0.75] -> 127/255``, ``<0.25 -> 0``. Overlap
    (192/255 > 0.75) merges into remove, so Pass 1 sees three levels.
    """
    mask = np.asarray(mask, dtype=np.float32)
    out = np.zeros(mask.shape, dtype=np.float32)
    out[(mask >= 0.25) & (mask <= 0.75)] = np.float32(127.0 / 255.0)
    out[mask > 0.75] = 1.0
    return out


def pass2_mask(mask: np.ndarray) -> np.ndarray:
    """Pass 2's binary re-quantisation of a model mask (§4.2, ``use_trimask=False``).

    ``>0.5 -> 1`` else 0. Affected (128/255 > 0.5) becomes remove as well: the
    reference's Pass 2 sees everything that is not background as "remove".
    """
    return (np.asarray(mask) > 0.5).astype(np.float32)


def latent_frames(padded: int) -> int:
    """Latent frames the VAE makes of ``padded`` pixel frames: ``(P - 1) // 4 + 1`` (§4.3)."""
    return (padded - 1) // 4 + 1
