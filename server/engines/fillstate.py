"""What the classic engine holds while it fills frames.

A reduced-resolution ``Grid`` laid over the frame; the ``PreparedFrame`` each
frame of the search window keeps (its edit region at full resolution, its
luminance and region at flow resolution); the ``Target`` being filled (its
pixels to replace, indexed by flow-resolution cell); an ``Anchor``'s finished
fill; ``SourceCrops`` of the frames pixels are copied from; the ``Window`` of
values kept around the frame being filled.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, Generic, Optional, Tuple, TypeVar

import numpy as np

from .sampling import any_tap, floor_index, sample

V = TypeVar("V")
Box = Tuple[int, int, int, int]
"""x0, y0, x1, y1 (exclusive), in full-resolution pixels."""


class Window(Generic[V]):
    """Values computed per frame position, kept around the frame being filled.

    Filling frame t reads the frames and flows from t - radius to t + radius;
    the next frame reads the same window shifted by one. When full, the value
    farthest from ``centre`` is dropped, which keeps exactly the window (a
    least-recently-used cache would drop the very values the next frame needs
    first, and recompute all of them when it is a little too small).
    """

    def __init__(self, capacity: int, compute: Callable[[int], V]) -> None:
        self._capacity = max(1, capacity)
        self._compute = compute
        self._items: Dict[int, V] = {}
        self.centre = 0
        """The position of the frame being filled."""

    def __getitem__(self, position: int) -> V:
        if position not in self._items:
            if len(self._items) >= self._capacity:
                del self._items[max(self._items, key=lambda key: (abs(key - self.centre), key))]
            self._items[position] = self._compute(position)
        return self._items[position]


class Grid:
    """A reduced-resolution grid laid over the frame (pixel centres aligned)."""

    def __init__(self, width: int, height: int, scale: float) -> None:
        self.full = (width, height)
        self.size = (max(8, round(width * scale)), max(8, round(height * scale)))
        self.sx = self.size[0] / width
        self.sy = self.size[1] / height

    def to_grid(self, xs: np.ndarray, ys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return ((xs + 0.5) * self.sx - 0.5).astype(np.float32), ((ys + 0.5) * self.sy - 0.5).astype(np.float32)

    def to_full(self, xs: np.ndarray, ys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        return ((xs + 0.5) / self.sx - 0.5).astype(np.float32), ((ys + 0.5) / self.sy - 0.5).astype(np.float32)

    def coverage(self, mask: np.ndarray, x0: int, y0: int) -> np.ndarray:
        """Grid cells (bool, grid size) that any pixel of ``mask`` (bool crop at x0, y0) overlaps,
        as ``cv2.resize(..., INTER_AREA)`` would mix them into those cells."""
        out = np.zeros((self.size[1], self.size[0]), bool)
        if not mask.any():
            return out
        cols = _cells(x0, mask.shape[1], self.sx, self.size[0])
        rows = _cells(y0, mask.shape[0], self.sy, self.size[1])
        along_x = _pool(mask, cols, axis=1)
        out[rows[0].min():rows[1].max() + 1, cols[0].min():cols[1].max() + 1] = _pool(along_x, rows, axis=0)
        return out


def _cells(start: int, count: int, scale: float, limit: int) -> Tuple[np.ndarray, np.ndarray]:
    """For each pixel from ``start``, the first and last grid cell its area overlaps."""
    edges = np.arange(start, start + count + 1, dtype=np.float64) * scale
    lo = np.minimum(np.floor(edges[:-1]), limit - 1).astype(np.intp)
    hi = np.minimum(np.ceil(edges[1:]) - 1, limit - 1).astype(np.intp)
    return lo, np.maximum(hi, lo)


def _pool(mask: np.ndarray, cells: Tuple[np.ndarray, np.ndarray], axis: int) -> np.ndarray:
    """OR of the lines of ``mask`` along ``axis`` into the cells each line overlaps (first to last)."""
    lo, hi = cells
    first = int(lo.min())
    shape = list(mask.shape)
    shape[axis] = int(hi.max()) - first + 1
    out = np.zeros(shape, bool)
    for ids in (lo, hi):  # a pixel overlaps at most two cells per axis when the grid is coarser
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        pooled = np.logical_or.reduceat(mask, starts, axis=axis)
        index = [slice(None)] * mask.ndim
        index[axis] = ids[starts] - first
        out[tuple(index)] |= pooled
    return out


class SourceCrops:
    """Full-resolution crops of the frames pixels are copied from, grown to what has been asked of them.

    Reading a whole 4K frame to copy a few thousand pixels from it costs more
    than the copying; consecutive targets read the same region of the same
    sources, so each source keeps the box around what was read (padded), and
    the whole frame is read again only when a request leaves that box. Values
    are exactly those of the whole frame.
    """

    _PAD = 64

    def __init__(self, read: Callable[[int], np.ndarray], budget: int) -> None:
        self._read = read
        self._budget = budget
        self._items: "OrderedDict[int, Tuple[Box, np.ndarray]]" = OrderedDict()
        self.region: Optional[Box] = None
        """Where the job's edit regions lie (seen so far): what targets will ask for; a crop covers it."""

    def include(self, box: Box) -> None:
        """Widen ``region`` by an edit region's box."""
        self.region = box if self.region is None else union_box(self.region, box)

    def sample(self, frame: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        need = (int(np.floor(xs.min())), int(np.floor(ys.min())), int(np.floor(xs.max())) + 2,
                int(np.floor(ys.max())) + 2)
        box, crop = self._crop(frame, need)
        return sample(crop, xs - box[0], ys - box[1])  # (sample converts half floats; exact)

    def _crop(self, frame: int, need: Box) -> Tuple[Box, np.ndarray]:
        held = self._items.pop(frame, None)
        if held is not None and held[0][0] <= need[0] and held[0][1] <= need[1] and \
                held[0][2] >= need[2] and held[0][3] >= need[3]:
            self._items[frame] = held
            return held
        rgb = self._read(frame)
        height, width = rgb.shape[:2]
        for wider in (held[0] if held is not None else None, self.region):
            if wider is not None:
                need = union_box(need, wider)
        box = (max(0, need[0] - self._PAD), max(0, need[1] - self._PAD), min(width, need[2] + self._PAD),
               min(height, need[3] + self._PAD))
        crop = rgb[box[1]:box[3], box[0]:box[2]]
        half = crop.astype(np.float16)
        entry = (box, half if np.array_equal(half, crop) else crop.copy())  # a half-float plate: half the memory
        self._items[frame] = entry
        total = sum(item[1].nbytes for item in self._items.values())
        while total > self._budget and len(self._items) > 1:
            total -= self._items.popitem(last=False)[1][1].nbytes
        return entry


def union_box(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class Bits:
    """A bool image kept bit-packed (an eighth of the memory), read pixel by pixel without unpacking."""

    def __init__(self, mask: np.ndarray) -> None:
        self.shape = mask.shape
        self._bits = np.packbits(mask, axis=None)

    def array(self) -> np.ndarray:
        return np.unpackbits(self._bits, count=self.shape[0] * self.shape[1]).reshape(self.shape).view(bool)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The pixels (rows, cols), which must lie inside."""
        index = rows * self.shape[1] + cols
        return ((self._bits[index >> 3] >> (7 - (index & 7))) & 1).astype(bool)


class PreparedFrame:
    """What filling the frames around one frame needs of it, kept while they are filled.

    The masks are kept bit-packed: a frame is kept for the whole search window
    (2 x radius + a unit), and at 4K an edit region's mask is megabytes.
    """

    def __init__(self, box: Optional[Box], hole: np.ndarray, luma: np.ndarray, hole_small: np.ndarray) -> None:
        self.box = box
        """x0, y0, x1, y1 (exclusive) of the pixels to replace, at full resolution; None when there are none."""
        self.luma = luma
        """uint8 tone-mapped luminance at flow resolution."""
        self._hole = Bits(hole)
        self._hole_small = Bits(hole_small)
        self._taps = Bits(any_tap(np.pad(hole, ((1, 0), (1, 0)))))  # from one pixel up and left of ``box``
        self._taps_small = Bits(any_tap(hole_small))

    @property
    def hole(self) -> np.ndarray:
        """bool crop of ``box``: the pixels to replace (the edit region grown by ``margin``)."""
        return self._hole.array()

    @property
    def hole_small(self) -> np.ndarray:
        """bool (flow resolution): the cells that any pixel to replace touches."""
        return self._hole_small.array()

    def reads_hole(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Whether a bilinear sample at each full-resolution point (xs, ys) reads a pixel to replace."""
        out = np.zeros(len(xs), bool)
        if self.box is None:
            return out
        cols = np.floor(xs).astype(np.intp) - (self.box[0] - 1)
        rows = np.floor(ys).astype(np.intp) - (self.box[1] - 1)
        height, width = self._taps.shape
        inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        out[inside] = self._taps.at(rows[inside], cols[inside])
        return out

    def reads_hole_small(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The same at flow resolution, for points known to lie inside the frame."""
        rows, cols, _ = floor_index(xs, ys, self._taps_small.shape)
        return self._taps_small.at(rows, cols)


@dataclass
class Anchor:
    """An anchor frame's fill: its pixels around the edit region, and which of them are background."""

    box: Box
    rgb: np.ndarray
    background: np.ndarray
    """bool: kept or filled (False where nothing could be restored and the plate stayed)."""

    def reads_background(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Whether a bilinear sample at each full-resolution point reads background only."""
        x0, y0, x1, y1 = self.box
        ok = (xs >= x0) & (xs <= x1 - 1) & (ys >= y0) & (ys <= y1 - 1)
        rows, cols, _ = floor_index(xs[ok] - x0, ys[ok] - y0, self.background.shape)
        ok[ok] = ~any_tap(~self.background)[rows, cols]
        return ok


class Target:
    """The frame being filled: its pixels to replace and which of them still need a value.

    Each pixel belongs to a cell of the flow-resolution grid (the top-left of
    its four bilinear taps there); pixels are indexed by cell so that a source
    that shows only a few cells costs only their pixels.
    """

    def __init__(self, frame: int, position: int, out: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                 box: Box, grid: Grid) -> None:
        self.frame, self.position, self.out, self.xs, self.ys, self.box = frame, position, out, xs, ys, box
        self.todo = np.ones(len(xs), bool)
        self.unrestored = np.zeros(0, np.intp)
        """Pixels left as the plate had them: no background anywhere in the frame to restore them from."""
        self.counts = {"propagated": 0, "anchored": 0, "synthesized": 0, "unrestorable": 0}
        gx, gy = grid.to_grid(xs, ys)
        gw, gh = grid.size
        rx0, ry0 = max(0, int(np.floor(gx.min())) - 1), max(0, int(np.floor(gy.min())) - 1)
        rx1, ry1 = min(gw, int(np.floor(gx.max())) + 3), min(gh, int(np.floor(gy.max())) + 3)
        self.roi = (rx0, ry0, rx1 - rx0, ry1 - ry0)
        """gx0, gy0, width, height of the flow-resolution grid points followed through other frames."""
        self.local_x, self.local_y = gx - rx0, gy - ry0
        """Per pixel: its flow-resolution coordinates relative to ``roi``."""
        cells = (self.roi[3] - 1, self.roi[2] - 1)
        cell_x = np.clip(np.floor(self.local_x), 0, cells[1] - 1).astype(np.intp)
        cell_y = np.clip(np.floor(self.local_y), 0, cells[0] - 1).astype(np.intp)
        self.cell = cell_y * cells[1] + cell_x
        self._order = np.argsort(self.cell, kind="stable")
        self._left = np.bincount(self.cell, minlength=cells[0] * cells[1])
        self._start = np.concatenate([[0], np.cumsum(self._left)])
        self._cells_shape = cells

    def todo_cells(self) -> np.ndarray:
        """bool (rows, cols) of cells: which still hold pixels without a value."""
        return (self._left > 0).reshape(self._cells_shape)

    def todo_in(self, cells: np.ndarray) -> np.ndarray:
        """Indices of the pixels still without a value in ``cells`` (bool, cell grid)."""
        chosen = np.flatnonzero(cells.ravel())
        lengths = self._start[chosen + 1] - self._start[chosen]
        offsets = np.repeat(self._start[chosen] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        which = self._order[offsets + np.arange(int(lengths.sum()))]
        return which[self.todo[which]]

    def done(self, which: np.ndarray, how: str) -> None:
        """Mark pixels ``which`` as filled, counting them under ``how``."""
        which = which[self.todo[which]]
        self.todo[which] = False
        self._left -= np.bincount(self.cell[which], minlength=len(self._left))
        self.counts[how] += len(which)
