"""The classic engine: flow-guided background propagation plus patch-based texture synthesis.

No weights, CPU only. For each frame, the pixels to replace (the whole edit
region of the quadmask, grown by ``margin``) are filled, in this order:

1. from the other frames of the job where the background there is visible,
   nearest frames first, following the background's flow (completed through
   the edit regions, see ``flowfield``) and taking only pixels that are keep in
   the frame they come from;
2. from the last *anchor* frame (every ``anchor_every``-th frame of the job),
   whose fill is carried along by the same flow, so what no frame shows keeps
   the same texture from frame to frame instead of boiling;
3. by patch-based synthesis (``patchfill``) of what is left, at a reduced
   resolution, carried to full resolution by copying real full-resolution texture.

Every value of the quadmask other than 255 is filled (remove, overlap *and*
affected) on every frame: the classic engine cannot re-simulate physics, so the
best it can do for a shadow, reflection or splash the object caused is to
restore the background that was there without it.

Only the region's bounding box and frames scaled down to ``flow_width`` are
held per frame; full-resolution frames are read when they are needed and
dropped, so memory does not grow with the frame count or the plate size
beyond one or two frames. A unit's pixels depend only on the plate and the
quadmask, never on units run before it: anchors are recomputed when neither
memory nor the job's scratch folder holds them, so a resumed job is identical
to an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from dataclasses import astuple, dataclass
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

import cv2
import numpy as np

from void_nuke.errors import ImageError, VoidError

from .base import Engine, EngineJob, ProgressFn, WorkUnit, parse_options
from .flowfield import Track, disk, fill_smooth, pair_flows, tone_map_luma
from .patchfill import PATCH_RADIUS, synthesize, transfer
from .sampling import OPENCV_MAX_SIDE, any_tap, floor_index, sample

_FLOW_BYTES = 256 * 2 ** 20
"""Memory for the flow fields between consecutive frames kept while a job's units run
(enough for the search window at 4K with the default ``flow_width``)."""
_FRAME_BYTES = 192 * 2 ** 20
"""Memory for the frames prepared for filling (masks, reduced luminance)."""
_SOURCE_BYTES = 128 * 2 ** 20
"""Memory for the full-resolution crops of the frames pixels are copied from."""
_ANCHOR_PAD = 32
"""Pixels of keep around an anchor's edit region stored with it."""
_ANCHORS_KEPT = 2
_THIN_PAD = 8
"""Known pixels around a thin part that its Navier-Stokes inpainting reads (twice its radius)."""
_BLOCK = 16
"""Full-resolution pixels between the points that decide where synthesised texture is copied from
(at least 4 synthesis-grid pixels)."""
_LOW_FREQUENCY_SIGMA = 6.0
"""Blur, in full-resolution pixels (at least 1.5 synthesis-grid pixels), of the correction that
gives copied texture the synthesised fill's low frequencies (its brightness and colour where it
lands); finer detail is the copied texture's own."""

K = TypeVar("K")
V = TypeVar("V")


class ClassicError(VoidError):
    """The classic engine failed on a frame; ``detail["frame"]`` names it."""

    code = "engine_failed"


@dataclass(frozen=True)
class ClassicOptions:
    """The engine's knobs, read from ``shot.engine.options``."""

    radius: int = 24
    """Look this many frames back and forward for background to propagate."""
    unit_frames: int = 8
    """Frames per work unit (the grain of progress and resume)."""
    margin: int = 2
    """Grow every frame's edit region by this many pixels, so the object's soft
    edges (antialiasing, motion blur) are neither kept nor copied into other frames."""
    flow_width: int = 960
    """Optical flow runs on frames scaled down to at most this width (speed on 2K-4K plates)."""
    anchor_every: int = 8
    """Every this many frames, the fill of what no frame shows is made anew from the previous
    anchor's and carried to the frames up to the next one."""
    synthesis_pixels: int = 60000
    """Texture synthesis runs at a resolution where the region it fills has at most this many pixels."""

    _LIMITS = {"radius": (0, 1000), "unit_frames": (1, 1000), "margin": (0, 64), "flow_width": (64, 8192),
               "anchor_every": (1, 1000), "synthesis_pixels": (1000, 10_000_000)}

    @classmethod
    def from_options(cls, options: Dict[str, Any]) -> "ClassicOptions":
        """Validate ``options``; errors name the option and its allowed range."""
        return cls(**parse_options(cls, "classic", options, cls._LIMITS))


class _LRU(Generic[K, V]):
    """A small least-recently-used cache of computed values."""

    def __init__(self, capacity: int, compute: Callable[[K], V]) -> None:
        self._capacity = max(1, capacity)
        self._compute = compute
        self._items: "OrderedDict[K, V]" = OrderedDict()

    def __getitem__(self, key: K) -> V:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._compute(key)
        self._items[key] = value
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return value


class _Grid:
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


class _SourceCrops:
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
        self._items: "OrderedDict[int, Tuple[Tuple[int, int, int, int], np.ndarray]]" = OrderedDict()
        self.region: Optional[Tuple[int, int, int, int]] = None
        """Where the job's edit regions lie (seen so far): what targets will ask for; a crop covers it."""

    def include(self, box: Tuple[int, int, int, int]) -> None:
        """Widen ``region`` by an edit region's box."""
        self.region = box if self.region is None else _union(self.region, box)

    def sample(self, frame: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        need = (int(np.floor(xs.min())), int(np.floor(ys.min())), int(np.floor(xs.max())) + 2,
                int(np.floor(ys.max())) + 2)
        box, crop = self._crop(frame, need)
        return sample(crop, xs - box[0], ys - box[1])

    def _crop(self, frame: int, need: Tuple[int, int, int, int]) -> Tuple[Tuple[int, int, int, int], np.ndarray]:
        held = self._items.pop(frame, None)
        if held is not None and held[0][0] <= need[0] and held[0][1] <= need[1] and \
                held[0][2] >= need[2] and held[0][3] >= need[3]:
            self._items[frame] = held
            return held
        rgb = self._read(frame)
        height, width = rgb.shape[:2]
        for wider in (held[0] if held is not None else None, self.region):
            if wider is not None:
                need = _union(need, wider)
        box = (max(0, need[0] - self._PAD), max(0, need[1] - self._PAD), min(width, need[2] + self._PAD),
               min(height, need[3] + self._PAD))
        entry = (box, rgb[box[1]:box[3], box[0]:box[2]].copy())
        self._items[frame] = entry
        total = sum(item[1].nbytes for item in self._items.values())
        while total > self._budget and len(self._items) > 1:
            total -= self._items.popitem(last=False)[1][1].nbytes
        return entry


def _union(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> Tuple[int, int, int, int]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


@dataclass
class _Frame:
    """What filling the frames around one frame needs of it, kept while they are filled."""

    box: Optional[Tuple[int, int, int, int]]
    """x0, y0, x1, y1 (exclusive) of the pixels to replace, at full resolution; None when there are none."""
    hole: np.ndarray
    """bool crop of ``box``: the pixels to replace (the edit region grown by ``margin``)."""
    luma: np.ndarray
    """uint8 tone-mapped luminance at flow resolution."""
    hole_small: np.ndarray
    """uint8 (0/255) cells at flow resolution that any pixel to replace touches."""

    def reads_hole(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Whether a bilinear sample at each full-resolution point (xs, ys) reads a pixel to replace."""
        out = np.zeros(len(xs), bool)
        if self.box is None:
            return out
        taps = any_tap(np.pad(self.hole, ((1, 0), (1, 0))))
        cols = np.floor(xs).astype(np.intp) - (self.box[0] - 1)
        rows = np.floor(ys).astype(np.intp) - (self.box[1] - 1)
        inside = (cols >= 0) & (cols < taps.shape[1]) & (rows >= 0) & (rows < taps.shape[0])
        out[inside] = taps[rows[inside], cols[inside]]
        return out

    def reads_hole_small(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """The same at flow resolution, for points known to lie inside the frame."""
        rows, cols, _ = floor_index(xs, ys, self.hole_small.shape)
        return any_tap(self.hole_small > 0)[rows, cols]


@dataclass
class _Anchor:
    """An anchor frame's fill: its pixels around the edit region, and which of them are background."""

    box: Tuple[int, int, int, int]
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


class _Target:
    """The frame being filled: its pixels to replace and which of them still need a value.

    Each pixel belongs to a cell of the flow-resolution grid (the top-left of
    its four bilinear taps there); pixels are indexed by cell so that a source
    that shows only a few cells costs only their pixels.
    """

    def __init__(self, frame: int, position: int, out: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                 box: Tuple[int, int, int, int], grid: _Grid) -> None:
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


class ClassicEngine(Engine):
    """Temporal background propagation (DIS optical flow, completed) plus patch-based synthesis.

    An instance runs one job's units at a time (it keeps that job's caches).
    """

    name = "classic"
    version = "2"

    def __init__(self) -> None:
        self._filler: Optional[_Filler] = None
        self._filler_key: Optional[Tuple[Any, ...]] = None

    def plan(self, job: EngineJob) -> List[WorkUnit]:
        size = ClassicOptions.from_options(job.shot.engine.options).unit_frames
        return [WorkUnit(i, tuple(job.frames[start:start + size]))
                for i, start in enumerate(range(0, len(job.frames), size))]

    def run(self, job: EngineJob, unit: WorkUnit, progress: ProgressFn) -> Iterator[Tuple[int, np.ndarray]]:
        filler = self._filler_for(job, ClassicOptions.from_options(job.shot.engine.options))
        for i, frame in enumerate(unit.frames):
            try:
                rgb, counts = filler.fill(frame)
            except VoidError:
                raise
            except Exception as exc:  # OpenCV, NumPy, memory: say which frame, keep the cause
                raise ClassicError(f"the classic engine failed on frame {frame}: {type(exc).__name__}: {exc}",
                                   detail={"frame": frame}) from exc
            message = (f"frame {frame}: {counts['propagated']} pixels from other frames, "
                       f"{counts['anchored']} carried from the anchor, {counts['synthesized']} synthesized")
            if counts["unrestorable"]:
                message += f", {counts['unrestorable']} kept (no background visible anywhere in the frame)"
            progress((i + 1) / len(unit.frames), message)
            yield frame, rgb

    def close(self) -> None:
        self._filler = self._filler_key = None

    def _filler_for(self, job: EngineJob, options: ClassicOptions) -> "_Filler":
        """The job's filler, kept from the previous unit of the same job.

        Neighbouring units read the same frames and flow fields; keeping them
        saves recomputing, and changes no pixel (every value is a pure function
        of the plate and quadmask), so a unit run alone gives the same result.
        """
        key = (job.job_id, job.scratch, job.shot.fingerprint(), tuple(job.frames), options)
        if self._filler is None or key != self._filler_key:
            self._filler, self._filler_key = _Filler(job, options), key
        return self._filler


class _Filler:
    """Fills the frames of one job, caching prepared frames, flow fields and anchors between them."""

    def __init__(self, job: EngineJob, options: ClassicOptions) -> None:
        self._job = job
        self._options = options
        self._position = {frame: i for i, frame in enumerate(job.frames)}
        width, height = job.spec.width, job.spec.height
        self._grid = _Grid(width, height, min(1.0, options.flow_width / width, OPENCV_MAX_SIDE / height))
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        small = self._grid.size[0] * self._grid.size[1]
        window = 2 * options.radius + options.unit_frames + 2
        self._frames: _LRU[int, _Frame] = _LRU(min(window, _FRAME_BYTES // (4 * small)), self._prepare)
        self._flows: _LRU[int, Tuple[np.ndarray, np.ndarray]] = _LRU(
            min(window, _FLOW_BYTES // (8 * small)), self._pair)
        self._anchors: "OrderedDict[int, Optional[_Anchor]]" = OrderedDict()
        self._sources = _SourceCrops(self._source_rgb, _SOURCE_BYTES)
        digest = hashlib.sha256(repr((job.shot.fingerprint(), job.frames, astuple(options))).encode())
        self._scratch_key = digest.hexdigest()[:16]

    # -- per frame ---------------------------------------------------------------------------

    def fill(self, frame: int) -> Tuple[np.ndarray, Dict[str, int]]:
        """The frame with its pixels to replace filled, and how many came from where."""
        position = self._position[frame]
        self._ensure_anchor(self._anchor_for(position))
        return self._fill(position)

    def _anchor_for(self, position: int) -> Optional[int]:
        """The anchor whose fill this frame carries on: the last one before it."""
        every = self._options.anchor_every
        return every * ((position - 1) // every) if position > 0 else None

    def _fill(self, position: int) -> Tuple[np.ndarray, Dict[str, int]]:
        target = self._target(position)
        if target is None:
            out = self._plate(self._job.frames[position])
            return out, {"propagated": 0, "anchored": 0, "synthesized": 0, "unrestorable": 0}
        self._propagate(target)
        if target.todo.any():
            self._inpaint_thin(target)
        if target.todo.any():
            self._synthesize(target)
        if position % self._options.anchor_every == 0:
            self._keep_anchor(position, target)
        return target.out, target.counts

    def _target(self, position: int) -> Optional[_Target]:
        frame = self._job.frames[position]
        prepared = self._frames[position]
        if prepared.box is None:
            return None
        x0, y0, x1, y1 = prepared.box
        hy, hx = np.nonzero(prepared.hole)
        xs, ys = (hx + x0).astype(np.intp), (hy + y0).astype(np.intp)
        return _Target(frame, position, self._plate(frame), xs, ys, prepared.box, self._grid)

    def _propagate(self, target: _Target) -> None:
        """Fill from the nearest frames that show the background, then from the anchor."""
        rx0, ry0, rw, rh = target.roi
        gy, gx = np.mgrid[ry0:ry0 + rh, rx0:rx0 + rw].astype(np.float32)
        tracks = {-1: Track(gx.ravel(), gy.ravel(), self._grid.size),
                  1: Track(gx.ravel(), gy.ravel(), self._grid.size)}
        position, count = target.position, len(self._job.frames)
        anchor = self._anchor_for(position)
        at_anchor: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        radius = self._options.radius
        steps = max(radius, position - anchor) if anchor is not None else radius
        for step in range(1, steps + 1):
            if not target.todo.any() or not (tracks[-1].alive.any() or tracks[1].alive.any()):
                break
            for direction in (-1, 1):
                source = position + direction * step
                if not 0 <= source < count or (direction > 0 and step > radius):
                    continue
                track = tracks[direction]
                if not track.alive.any():
                    continue
                pair = self._flows[min(source, source - direction)]
                forward, backward = (pair[0], pair[1]) if direction > 0 else (pair[1], pair[0])
                track.step(forward.astype(np.float32), backward.astype(np.float32))
                if step <= radius:
                    self._take_from_frame(target, source, track)
                if source == anchor:  # where the pixels lie in the anchor (steps replace xs and ys)
                    at_anchor = (track.xs, track.ys, track.alive.copy())
        if target.todo.any() and at_anchor is not None and anchor is not None:
            self._take_from_anchor(target, anchor, *at_anchor)

    def _candidates(self, target: _Target, valid: np.ndarray) -> np.ndarray:
        """Pixels still to fill whose four flow-resolution neighbours all followed validly."""
        rw, rh = target.roi[2], target.roi[3]
        v = valid.reshape(rh, rw)
        cells = v[:-1, :-1] & v[1:, :-1] & v[:-1, 1:] & v[1:, 1:] & target.todo_cells()
        if not cells.any():
            return np.zeros(0, np.intp)
        return target.todo_in(cells)

    def _positions(self, target: _Target, xs: np.ndarray, ys: np.ndarray,
                   which: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Full-resolution positions of the target pixels ``which`` in the frame where the
        followed grid points lie at (xs, ys)."""
        rw, rh = target.roi[2], target.roi[3]
        field = np.dstack([xs.reshape(rh, rw), ys.reshape(rh, rw)])
        at = sample(field, target.local_x[which], target.local_y[which])
        return self._grid.to_full(at[:, 0], at[:, 1])

    def _take_from_frame(self, target: _Target, source: int, track: Track) -> None:
        """Fill the pixels that ``source`` shows as keep."""
        src = self._frames[source]
        valid = track.alive.copy()
        valid[valid] = ~src.reads_hole_small(track.xs[valid], track.ys[valid])
        which = self._candidates(target, valid)
        if not len(which):
            return
        sx, sy = self._positions(target, track.xs, track.ys, which)
        width, height = self._grid.full
        ok = (sx >= 0) & (sx <= width - 1) & (sy >= 0) & (sy <= height - 1)
        ok[ok] = ~src.reads_hole(sx[ok], sy[ok])
        if not ok.any():
            return
        which = which[ok]
        target.out[target.ys[which], target.xs[which]] = self._sources.sample(self._job.frames[source], sx[ok],
                                                                               sy[ok])
        target.done(which, "propagated")

    def _take_from_anchor(self, target: _Target, anchor: int, xs: np.ndarray, ys: np.ndarray,
                          alive: np.ndarray) -> None:
        """Fill what the anchor's fill shows, carried along the background's flow."""
        stored = self._anchors.get(anchor)
        if stored is None:
            return
        which = self._candidates(target, alive)
        if not len(which):
            return
        sx, sy = self._positions(target, xs, ys, which)
        ok = stored.reads_background(sx, sy)
        if not ok.any():
            return
        which = which[ok]
        x0, y0 = stored.box[:2]
        target.out[target.ys[which], target.xs[which]] = sample(stored.rgb, sx[ok] - x0, sy[ok] - y0)
        target.done(which, "anchored")

    def _inpaint_thin(self, target: _Target) -> None:
        """Inpaint (Navier-Stokes, full resolution) the parts left that are too thin for patches.

        A hole a few patches across has no room for texture, and smooth
        inpainting continues its edges and values exactly (HDR included); the
        parts of what is left no thicker than twice the patch synthesis's patch
        radius are filled that way.
        """
        left = np.flatnonzero(target.todo)
        x0, y0, x1, y1 = target.box
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        mask[target.ys[left] - y0, target.xs[left] - x0] = 1
        count, labels = cv2.connectedComponents(mask, connectivity=8)
        depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
        thickest = np.zeros(count, np.float32)
        np.maximum.at(thickest, labels[mask > 0], depth[mask > 0])
        thin_label = thickest <= 2 * PATCH_RADIUS / self._grid.sx
        thin_label[0] = False
        thin = thin_label[labels]
        if not thin.any():
            return
        bx, by, bw, bh = cv2.boundingRect(thin.view(np.uint8))
        pad = _THIN_PAD
        height, width = target.out.shape[:2]
        cx0, cy0 = max(0, x0 + bx - pad), max(0, y0 + by - pad)
        cx1, cy1 = min(width, x0 + bx + bw + pad), min(height, y0 + by + bh + pad)
        crop = target.out[cy0:cy1, cx0:cx1].copy()
        around = np.zeros(crop.shape[:2], np.uint8)  # the box's window into this crop
        wx0, wy0 = max(cx0, x0), max(cy0, y0)
        wx1, wy1 = min(cx1, x1), min(cy1, y1)
        thick = (mask > 0) & ~thin
        around[wy0 - cy0:wy1 - cy0, wx0 - cx0:wx1 - cx0] = thick[wy0 - y0:wy1 - y0, wx0 - x0:wx1 - x0]
        fill_smooth(crop, around)  # the thick parts hold a smooth guess, not the object, while this reads them
        holes = np.zeros(crop.shape[:2], np.uint8)
        holes[wy0 - cy0:wy1 - cy0, wx0 - cx0:wx1 - cx0] = thin[wy0 - y0:wy1 - y0, wx0 - x0:wx1 - x0]
        clean = np.nan_to_num(crop, nan=0.0, posinf=0.0, neginf=0.0)
        filled = np.stack([cv2.inpaint(np.ascontiguousarray(clean[:, :, c]), holes, _THIN_PAD / 2, cv2.INPAINT_NS)
                           for c in range(3)], axis=-1)
        ty, tx = np.nonzero(thin)
        target.out[ty + y0, tx + x0] = filled[ty + y0 - cy0, tx + x0 - cx0]
        target.done(np.flatnonzero(thin[target.ys - y0, target.xs - x0]), "synthesized")

    def _synthesize(self, target: _Target) -> None:
        """Patch-based fill of what neither another frame nor the anchor shows."""
        left = np.flatnonzero(target.todo)
        xs, ys = target.xs[left], target.ys[left]
        width, height = self._grid.full
        scale = min(self._grid.sx, float(np.sqrt(self._options.synthesis_pixels / len(left))))
        grid = self._grid if scale >= self._grid.sx else _Grid(width, height, scale)
        x0, y0, x1, y1 = target.box
        mask = np.zeros((y1 - y0, x1 - x0), bool)
        mask[ys - y0, xs - x0] = True
        unknown = grid.coverage(mask, x0, y0)
        bx, by, bw, bh = cv2.boundingRect(unknown.astype(np.uint8))
        pad = max(24, bw, bh)
        cx0, cy0 = max(0, bx - pad), max(0, by - pad)
        cx1, cy1 = min(grid.size[0], bx + bw + pad), min(grid.size[1], by + bh + pad)
        small = cv2.resize(target.out, grid.size, interpolation=cv2.INTER_AREA)[cy0:cy1, cx0:cx1]
        crop_unknown = unknown[cy0:cy1, cx0:cx1]
        gx, gy = grid.to_grid(xs, ys)
        gx, gy = gx - cx0, gy - cy0
        spacing = max(4, int(round(_BLOCK * grid.sx)))
        synthesis = synthesize(small, crop_unknown, seed=target.position, spacing=spacing)
        if crop_unknown.all():  # no background anywhere in the frame: nothing to restore from
            target.unrestored = left
            target.done(left, "unrestorable")
            return
        if synthesis is None:  # no whole patch of background anywhere near: a smooth fill
            smooth = fill_smooth(small.copy(), crop_unknown.astype(np.uint8))
            target.out[ys, xs] = sample(smooth, gx, gy)
        else:
            def known(px: np.ndarray, py: np.ndarray) -> np.ndarray:
                """Inside the frame and not among the pixels being synthesized."""
                ok = (px >= 0) & (px < width) & (py >= 0) & (py < height)
                boxed = ok & (px >= x0) & (px < x1) & (py >= y0) & (py < y1)
                ok[boxed] = ~mask[py[boxed] - y0, px[boxed] - x0]
                return ok

            values, found = transfer(target.out, known, xs, ys, gx, gy, synthesis, (grid.sx, grid.sy))
            values[~found] = sample(synthesis.image, gx[~found], gy[~found])
            target.out[ys, xs] = values
            copied = cv2.resize(target.out, grid.size, interpolation=cv2.INTER_AREA)[cy0:cy1, cx0:cx1]
            residual = np.where(crop_unknown[:, :, None], synthesis.image - copied, 0).astype(np.float32)
            residual = cv2.GaussianBlur(residual, (0, 0), max(1.5, _LOW_FREQUENCY_SIGMA * grid.sx))
            target.out[ys, xs] += sample(residual, gx, gy)
        target.done(left, "synthesized")

    # -- anchors -----------------------------------------------------------------------------

    def _ensure_anchor(self, anchor: Optional[int]) -> None:
        """Make sure the anchor's fill is at hand, filling the anchors before it first where needed."""
        missing = []
        while anchor is not None and not self._load_anchor(anchor):
            missing.append(anchor)
            anchor = self._anchor_for(anchor)
        for position in reversed(missing):
            self._fill(position)

    def _keep_anchor(self, position: int, target: _Target) -> None:
        height, width = target.out.shape[:2]
        x0, y0, x1, y1 = target.box
        box = (max(0, x0 - _ANCHOR_PAD), max(0, y0 - _ANCHOR_PAD), min(width, x1 + _ANCHOR_PAD),
               min(height, y1 + _ANCHOR_PAD))
        background = np.ones((box[3] - box[1], box[2] - box[0]), bool)
        kept = target.unrestored
        background[target.ys[kept] - box[1], target.xs[kept] - box[0]] = False
        anchor = _Anchor(box, target.out[box[1]:box[3], box[0]:box[2]].copy(), background)
        self._remember(position, anchor)
        path = self._anchor_path(position)
        if path is None:
            return
        with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), suffix=".npz", delete=False) as tmp:
            np.savez(tmp, box=np.array(box), rgb=anchor.rgb, background=background)
        os.replace(tmp.name, path)
        for old in os.listdir(os.path.dirname(path)):  # anchors no unit will read again
            stem = f"classic-anchor-{self._scratch_key}-"
            if old.startswith(stem) and old.endswith(".npz") and int(old[len(stem):-4]) < position - \
                    self._options.anchor_every:
                os.remove(os.path.join(os.path.dirname(path), old))

    def _load_anchor(self, position: int) -> bool:
        if position in self._anchors:
            return True
        if self._frames[position].box is None:  # nothing to fill there, nothing to carry on
            self._remember(position, None)
            return True
        path = self._anchor_path(position)
        if path is None or not os.path.isfile(path):
            return False
        with np.load(path) as data:
            self._remember(position, _Anchor(tuple(int(v) for v in data["box"]), data["rgb"], data["background"]))
        return True

    def _remember(self, position: int, anchor: Optional[_Anchor]) -> None:
        self._anchors[position] = anchor
        while len(self._anchors) > _ANCHORS_KEPT:
            self._anchors.popitem(last=False)

    def _anchor_path(self, position: int) -> Optional[str]:
        if not os.path.isdir(self._job.scratch):
            return None
        return os.path.join(self._job.scratch, f"classic-anchor-{self._scratch_key}-{position:06d}.npz")

    # -- cached inputs -----------------------------------------------------------------------

    def _read(self, frame: int, what: str) -> np.ndarray:
        """The plate's RGB or the quadmask of ``frame``; a failure names the frame."""
        try:
            return np.asarray(self._job.plate(frame) if what == "plate" else self._job.quadmask(frame))
        except VoidError:
            raise
        except Exception as exc:
            raise ClassicError(f"could not read the {what} of frame {frame}: {type(exc).__name__}: {exc}",
                               detail={"frame": frame}) from exc

    def _plate(self, frame: int) -> np.ndarray:
        """The frame's RGB at full resolution: a float32 copy that may be written to."""
        return np.array(self._read(frame, "plate")[:, :, :3], dtype=np.float32, order="C", copy=True)

    def _source_rgb(self, frame: int) -> np.ndarray:
        """The frame's RGB at full resolution, to read from (no copy when the plate is float32 RGB)."""
        return np.ascontiguousarray(self._read(frame, "plate")[:, :, :3], dtype=np.float32)

    def _prepare(self, position: int) -> _Frame:
        frame = self._job.frames[position]
        rgb = self._read(frame, "plate")
        quadmask = self._read(frame, "quadmask")
        shape = (self._job.spec.height, self._job.spec.width)
        if quadmask.shape != rgb.shape[:2] or rgb.shape[:2] != shape:
            raise ImageError(f"frame {frame}: plate {rgb.shape[1]}x{rgb.shape[0]} and quadmask "
                             f"{quadmask.shape[1]}x{quadmask.shape[0]} differ from the shot's "
                             f"{shape[1]}x{shape[0]}; every frame of a shot must have the same data window",
                             detail={"frame": frame})
        small_rgb = cv2.resize(np.ascontiguousarray(rgb[:, :, :3], dtype=np.float32), self._grid.size,
                               interpolation=cv2.INTER_AREA)
        luma = tone_map_luma(small_rgb)
        hole8 = (quadmask != 255).view(np.uint8)
        bx, by, bw, bh = cv2.boundingRect(hole8)
        if bw == 0 or bh == 0:
            return _Frame(None, np.zeros((0, 0), bool), luma, np.zeros_like(luma))
        margin = self._options.margin
        x0, y0 = max(0, bx - margin), max(0, by - margin)
        x1, y1 = min(shape[1], bx + bw + margin), min(shape[0], by + bh + margin)
        hole = hole8[y0:y1, x0:x1]
        if margin:
            hole = cv2.dilate(hole, disk(margin))
        hole_small = self._grid.coverage(hole > 0, x0, y0).astype(np.uint8) * 255
        self._sources.include((x0, y0, x1, y1))
        return _Frame((x0, y0, x1, y1), hole > 0, luma, hole_small)

    def _pair(self, position: int) -> Tuple[np.ndarray, np.ndarray]:
        """Completed flows position → position+1 and back, at flow resolution (stored as float16)."""
        a, b = self._frames[position], self._frames[position + 1]
        forward, backward = pair_flows(self._flow, a.luma, a.hole_small, b.luma, b.hole_small)
        return forward.astype(np.float16), backward.astype(np.float16)


def create_engine(settings: Dict[str, Any]) -> ClassicEngine:
    """The server's factory; the classic engine needs no settings (no weights, no GPU)."""
    return ClassicEngine()
