"""The classic engine: flow-guided background propagation plus OpenCV inpainting.

No weights, CPU only. For each frame, the pixels to replace (the whole edit
region of the quadmask) are filled from the other frames of the job where the
background there is visible, nearest frames first; what no frame shows is
inpainted. See docs/engine-classic.md for the method, its options and limits.

Every value of the quadmask other than 255 is filled (remove, overlap *and*
affected): the classic engine cannot re-simulate physics, so the best it can do
for a shadow, reflection or splash the object caused is to restore the
background that was there without it.

A unit's pixels depend only on the plate and the quadmask of the frames it
reads, never on units run before it, so a resumed job is identical to an
uninterrupted one.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

import cv2
import numpy as np

from void_nuke.errors import ImageError

from .base import Engine, EngineJob, ProgressFn, WorkUnit, parse_options

_FRAME_CACHE_BYTES = 512 * 2 ** 20
_FLOW_CACHE_BYTES = 1536 * 2 ** 20
"""Memory for prepared frames and for flow fields, kept while a job's units run.
A flow pair is needed again when its later frame's turn comes, up to the
search distance away, so the flow cache must hold that many frames' pairs."""
_FILL_CELL = 4
"""Smooth fills (flow completion, luminance under holes) work on cells of this many pixels."""
_FLOW_GUARD = 4
"""Flow vectors this close (flow-resolution pixels) to a hole are not trusted:
the flow's patches overlap the hole."""
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 / sRGB primaries

K = TypeVar("K")
V = TypeVar("V")


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
    inpaint_radius: float = 5.0
    """Neighbourhood radius, in pixels, of the inpainting of what no frame shows."""
    flow_width: int = 960
    """Optical flow runs on frames scaled down to at most this width (speed on 2K-4K plates)."""

    _LIMITS = {"radius": (0, 1000), "unit_frames": (1, 1000), "margin": (0, 64),
               "inpaint_radius": (1.0, 64.0), "flow_width": (64, 8192)}

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


@dataclass
class _Frame:
    """One frame, prepared for propagation."""

    rgb: np.ndarray
    """Scene-linear float32 (H, W, 3), as the plate gives it."""
    hole: np.ndarray
    """uint8 (H, W), 255 on the pixels to replace (the edit region grown by ``margin``)."""
    luma: np.ndarray
    """uint8 tone-mapped luminance at flow resolution."""
    hole_small: np.ndarray
    """uint8 (0/255) hole at flow resolution."""


def tone_map_luma(rgb: np.ndarray) -> np.ndarray:
    """Scene-linear RGB → 8-bit luminance for optical flow.

    A fixed curve (Reinhard, then a 2.2 gamma) so every frame maps the same way
    and highlights above 1 keep their detail instead of clipping.
    """
    lum = np.nan_to_num(rgb.astype(np.float32, copy=False) @ _LUMA, nan=0.0, posinf=1e6, neginf=0.0)
    lum = np.maximum(lum, 0.0)
    mapped = np.power(lum / (1.0 + lum), 1.0 / 2.2)
    return np.clip(mapped * 255.0 + 0.5, 0, 255).astype(np.uint8)


def sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at the points (xs, ys); one row per point."""
    out = cv2.remap(image, xs.reshape(-1, 1).astype(np.float32), ys.reshape(-1, 1).astype(np.float32),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(len(xs), -1)


class ClassicEngine(Engine):
    """Temporal background propagation (DIS optical flow) plus Navier-Stokes inpainting.

    An instance runs one job's units at a time (it keeps that job's caches).
    """

    name = "classic"
    version = "1"

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
            rgb, propagated, inpainted = filler.fill(frame)
            progress((i + 1) / len(unit.frames),
                     f"frame {frame}: {propagated} pixels from other frames, {inpainted} inpainted")
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
    """Fills the frames of one job, caching prepared frames and flow fields between them."""

    def __init__(self, job: EngineJob, options: ClassicOptions) -> None:
        self._job = job
        self._options = options
        self._position = {frame: i for i, frame in enumerate(job.frames)}
        height, width = job.spec.height, job.spec.width
        scale = min(1.0, options.flow_width / width)
        self._small = (max(8, round(width * scale)), max(8, round(height * scale)))
        self._sx = self._small[0] / width
        self._sy = self._small[1] / height
        self._grid = np.dstack(np.meshgrid(np.arange(self._small[0], dtype=np.float32),
                                           np.arange(self._small[1], dtype=np.float32)))
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        frame_bytes = height * width * 13 + self._small[0] * self._small[1] * 2
        pair_bytes = self._small[0] * self._small[1] * 16
        self._frames: _LRU[int, _Frame] = _LRU(
            min(2 * options.radius + options.unit_frames + 1, _FRAME_CACHE_BYTES // frame_bytes),
            self._prepare)
        self._flows: _LRU[Tuple[int, int], Tuple[np.ndarray, np.ndarray]] = _LRU(
            _FLOW_CACHE_BYTES // pair_bytes, self._pair_flows)

    # -- per frame ---------------------------------------------------------------------------

    def fill(self, frame: int) -> Tuple[np.ndarray, int, int]:
        """The frame with its hole filled, and how many pixels were propagated and inpainted."""
        target = self._frames[frame]
        out = target.rgb.copy()
        ys, xs = np.nonzero(target.hole)
        todo = np.ones(len(xs), bool)
        for source in self._candidates(frame):
            if not todo.any():
                break
            idx = np.flatnonzero(todo)
            values = self._propagate(frame, source, xs[idx].astype(np.float32), ys[idx].astype(np.float32))
            if values is not None:
                got, rgb = values
                out[ys[idx[got]], xs[idx[got]]] = rgb
                todo[idx[got]] = False
        left = np.zeros(target.hole.shape, bool)
        left[ys[todo], xs[todo]] = True
        inpainted = int(todo.sum())
        if inpainted and not left.all():
            out = self._inpaint(out, left)
        return out, len(xs) - inpainted, inpainted

    def _candidates(self, frame: int) -> Iterator[int]:
        """Frames of the job within ``radius``, nearest first, the earlier one first on ties."""
        frames, here = self._job.frames, self._position[frame]
        for step in range(1, self._options.radius + 1):
            for pos in (here - step, here + step):
                if 0 <= pos < len(frames):
                    yield frames[pos]

    def _propagate(self, frame: int, source: int, xs: np.ndarray,
                   ys: np.ndarray) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """Which of the target pixels (xs, ys) ``source`` shows, and their colour there.

        A pixel counts as shown when the completed flow carries it inside the
        source frame, outside the source's own hole, and the flows both ways agree.
        """
        src = self._frames[source]
        height, width = src.hole.shape
        fwd = sample(self._flow_between(frame, source), *self._to_small(xs, ys))
        sx = xs + fwd[:, 0] / self._sx
        sy = ys + fwd[:, 1] / self._sy
        shown = (sx >= 0) & (sx <= width - 1) & (sy >= 0) & (sy <= height - 1)
        shown &= sample(src.hole, sx, sy)[:, 0] == 0  # no hole pixel among the bilinear taps
        if not shown.any():
            return None
        bwd = sample(self._flow_between(source, frame), *self._to_small(sx, sy))
        shown &= consistent(fwd, bwd)
        if not shown.any():
            return None
        return shown, sample(src.rgb, sx[shown], sy[shown])

    def _to_small(self, xs: np.ndarray, ys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Plate pixel coordinates → flow-resolution coordinates (pixel centres aligned)."""
        return (xs + 0.5) * self._sx - 0.5, (ys + 0.5) * self._sy - 0.5

    def _inpaint(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Inpaint per channel in float32, so values above 1 (and below 0) survive.

        OpenCV's Navier-Stokes method: its Telea method gives wrong, oscillating
        values on 32-bit float images (opencv/opencv#25404; so in OpenCV 5.0 too).
        """
        mask8 = mask.astype(np.uint8) * 255
        clean = np.nan_to_num(rgb, nan=0.0, posinf=0.0, neginf=0.0)
        channels = [cv2.inpaint(np.ascontiguousarray(clean[:, :, c]), mask8, self._options.inpaint_radius,
                                cv2.INPAINT_NS) for c in range(3)]
        out = rgb.copy()
        out[mask] = np.stack(channels, axis=-1)[mask]
        return out

    # -- cached inputs -----------------------------------------------------------------------

    def _prepare(self, frame: int) -> _Frame:
        rgb = np.ascontiguousarray(self._job.plate(frame)[:, :, :3], dtype=np.float32)
        hole8 = (np.asarray(self._job.quadmask(frame)) != 255).astype(np.uint8)
        if hole8.shape != rgb.shape[:2] or rgb.shape[:2] != (self._job.spec.height, self._job.spec.width):
            raise ImageError(f"frame {frame}: plate {rgb.shape[1]}x{rgb.shape[0]} and quadmask "
                             f"{hole8.shape[1]}x{hole8.shape[0]} differ from the shot's "
                             f"{self._job.spec.width}x{self._job.spec.height}; every frame of a shot "
                             "must have the same data window")
        if self._options.margin:
            hole8 = cv2.dilate(hole8, _disk(self._options.margin))
        hole = hole8 * 255
        hole_small = cv2.resize(hole, self._small, interpolation=cv2.INTER_AREA)
        hole_small = (hole_small > 0).astype(np.uint8) * 255
        luma = cv2.resize(tone_map_luma(rgb), self._small, interpolation=cv2.INTER_AREA)
        return _Frame(rgb, hole, luma, hole_small)

    def _pair_flows(self, pair: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
        """Flows pair[0]→pair[1] and back, at flow resolution, completed over the holes.

        Both frames' holes are filled alike in both images before the flow is
        estimated, so the object neither drags the flow nor gets matched with
        itself; the vectors there, and near there, are then replaced by a
        smooth fill from the surrounding background motion.
        """
        a, b = self._frames[pair[0]], self._frames[pair[1]]
        both = np.maximum(a.hole_small, b.hole_small)
        luma_a, luma_b = _fill_luma(a.luma, both), _fill_luma(b.luma, both)
        guard = cv2.dilate(both, _disk(_FLOW_GUARD))
        return (_complete_flow(self._flow.calc(luma_a, luma_b, None), guard, b.hole_small, self._grid),
                _complete_flow(self._flow.calc(luma_b, luma_a, None), guard, a.hole_small, self._grid))

    def _flow_between(self, a: int, b: int) -> np.ndarray:
        if a < b:
            return self._flows[(a, b)][0]
        return self._flows[(b, a)][1]


def _fill_luma(luma: np.ndarray, hole: np.ndarray) -> np.ndarray:
    filled = fill_smooth(luma.astype(np.float32)[:, :, None], hole)[:, :, 0]
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


def _complete_flow(flow: np.ndarray, untrusted: np.ndarray, target_hole: np.ndarray,
                   grid: np.ndarray) -> np.ndarray:
    """Replace the vectors in ``untrusted``, or landing in ``target_hole``, from the trusted rest.

    ``grid`` holds each pixel's own (x, y); ``flow`` is filled in place.
    """
    lands_in_hole = cv2.remap(target_hole, flow + grid, None, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return fill_smooth(flow, np.maximum(untrusted, lands_in_hole))


def fill_smooth(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` (uint8, nonzero = unknown) of float32 ``values`` (H, W, C) in place, smoothly.

    For fields that are smooth inside the hole (background motion) or need only
    be plausible (luminance that the flow must not latch onto). Around the
    hole, known values are averaged onto a grid _FILL_CELL times coarser, the
    cells with too little known data are inpainted there (cheap: few pixels),
    and the result is upsampled into the hole; known pixels are kept.
    """
    count = cv2.countNonZero(hole)
    if not count:
        return values
    if count == hole.size:
        values[...] = 0
        return values
    bx, by, bw, bh = cv2.boundingRect(hole)
    pad = 4 * _FILL_CELL  # known context the coarse inpainting reads
    y0, y1 = max(0, by - pad), min(hole.shape[0], by + bh + pad)
    x0, x1 = max(0, bx - pad), min(hole.shape[1], bx + bw + pad)
    unknown = hole[y0:y1, x0:x1] > 0
    patch = values[y0:y1, x0:x1]
    h, w = unknown.shape
    coarse_size = (-(-w // _FILL_CELL), -(-h // _FILL_CELL))
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


def consistent(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Forward-backward check: a vector and the reverse flow where it lands must cancel.

    The tolerance grows with the motion (Sundaram, Brox and Keutzer 2010).
    """
    err = np.sum((fwd + bwd) ** 2, axis=1)
    return err <= 0.01 * (np.sum(fwd ** 2, axis=1) + np.sum(bwd ** 2, axis=1)) + 0.5


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def create_engine(settings: Dict[str, Any]) -> ClassicEngine:
    """The server's factory; the classic engine needs no settings (no weights, no GPU)."""
    return ClassicEngine()
