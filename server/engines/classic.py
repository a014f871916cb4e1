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
from typing import Any, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from void_nuke.errors import ImageError, VoidError

from .base import Engine, EngineJob, ProgressFn, WorkUnit, parse_options
from .flowfield import Track, disk, fill_smooth, pair_flows, tone_map_luma
from .patchfill import PATCH_RADIUS, synthesize, transfer
from .fillstate import Anchor, Grid, PreparedFrame, SourceCrops, Target, Window
from .sampling import OPENCV_MAX_SIDE, sample

_FLOW_BYTES = 256 * 2 ** 20
"""Memory for the flow fields between consecutive frames kept around the frame being filled
(the whole search window at 4K with the default ``flow_width`` and ``radius``; a larger window
keeps the nearest pairs and recomputes the others)."""
_SOURCE_BYTES = 160 * 2 ** 20
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
            rgb, counts = filler.fill(frame)  # failures propagate: the runner gives them a trace id
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
        self._grid = Grid(width, height, min(1.0, options.flow_width / width, OPENCV_MAX_SIDE / height))
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        small = self._grid.size[0] * self._grid.size[1]
        window = 2 * options.radius + options.unit_frames + 2
        self._frames: Window[PreparedFrame] = Window(window, self._prepare)
        self._flows: Window[Tuple[np.ndarray, np.ndarray]] = Window(min(window, _FLOW_BYTES // (8 * small)),
                                                                    self._pair)
        self._anchors: "OrderedDict[int, Optional[Anchor]]" = OrderedDict()
        self._sources = SourceCrops(self._source_rgb, _SOURCE_BYTES)
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
        self._frames.centre = self._flows.centre = position
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

    def _target(self, position: int) -> Optional[Target]:
        frame = self._job.frames[position]
        prepared = self._frames[position]
        if prepared.box is None:
            return None
        x0, y0, x1, y1 = prepared.box
        hy, hx = np.nonzero(prepared.hole)
        xs, ys = (hx + x0).astype(np.intp), (hy + y0).astype(np.intp)
        return Target(frame, position, self._plate(frame), xs, ys, prepared.box, self._grid)

    def _propagate(self, target: Target) -> None:
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

    def _candidates(self, target: Target, valid: np.ndarray) -> np.ndarray:
        """Pixels still to fill whose four flow-resolution neighbours all followed validly."""
        rw, rh = target.roi[2], target.roi[3]
        v = valid.reshape(rh, rw)
        cells = v[:-1, :-1] & v[1:, :-1] & v[:-1, 1:] & v[1:, 1:] & target.todo_cells()
        if not cells.any():
            return np.zeros(0, np.intp)
        return target.todo_in(cells)

    def _positions(self, target: Target, xs: np.ndarray, ys: np.ndarray,
                   which: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Full-resolution positions of the target pixels ``which`` in the frame where the
        followed grid points lie at (xs, ys)."""
        rw, rh = target.roi[2], target.roi[3]
        field = np.dstack([xs.reshape(rh, rw), ys.reshape(rh, rw)])
        at = sample(field, target.local_x[which], target.local_y[which])
        return self._grid.to_full(at[:, 0], at[:, 1])

    def _take_from_frame(self, target: Target, source: int, track: Track) -> None:
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

    def _take_from_anchor(self, target: Target, anchor: int, xs: np.ndarray, ys: np.ndarray,
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

    def _inpaint_thin(self, target: Target) -> None:
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

    def _synthesize(self, target: Target) -> None:
        """Patch-based fill of what neither another frame nor the anchor shows."""
        left = np.flatnonzero(target.todo)
        xs, ys = target.xs[left], target.ys[left]
        width, height = self._grid.full
        scale = min(self._grid.sx, float(np.sqrt(self._options.synthesis_pixels / len(left))))
        grid = self._grid if scale >= self._grid.sx else Grid(width, height, scale)
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
        if crop_unknown.all():  # no background anywhere in the frame: nothing to restore from
            target.unrestored = left
            target.done(left, "unrestorable")
            return
        synthesis = synthesize(small, crop_unknown, seed=target.position,
                               spacing=max(4, int(round(_BLOCK * grid.sx))))
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

    def _keep_anchor(self, position: int, target: Target) -> None:
        height, width = target.out.shape[:2]
        x0, y0, x1, y1 = target.box
        box = (max(0, x0 - _ANCHOR_PAD), max(0, y0 - _ANCHOR_PAD), min(width, x1 + _ANCHOR_PAD),
               min(height, y1 + _ANCHOR_PAD))
        background = np.ones((box[3] - box[1], box[2] - box[0]), bool)
        kept = target.unrestored
        background[target.ys[kept] - box[1], target.xs[kept] - box[0]] = False
        anchor = Anchor(box, target.out[box[1]:box[3], box[0]:box[2]].copy(), background)
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
            self._remember(position, Anchor(tuple(int(v) for v in data["box"]), data["rgb"], data["background"]))
        return True

    def _remember(self, position: int, anchor: Optional[Anchor]) -> None:
        self._anchors[position] = anchor
        while len(self._anchors) > _ANCHORS_KEPT:
            self._anchors.popitem(last=False)

    def _anchor_path(self, position: int) -> Optional[str]:
        if not os.path.isdir(self._job.scratch):
            return None
        return os.path.join(self._job.scratch, f"classic-anchor-{self._scratch_key}-{position:06d}.npz")

    # -- cached inputs -----------------------------------------------------------------------

    def _read(self, frame: int, what: str) -> np.ndarray:
        """The plate's RGB or the quadmask of ``frame``.

        A reading error names the frame read (frames ahead of the one being
        filled are read too); anything else propagates as it is, for the job
        runner to name the frame, give it a trace id and log the traceback.
        """
        try:
            return np.asarray(self._job.plate(frame) if what == "plate" else self._job.quadmask(frame))
        except VoidError as exc:
            exc.detail.setdefault("frame", frame)
            raise

    def _plate(self, frame: int) -> np.ndarray:
        """The frame's RGB at full resolution: a float32 copy that may be written to."""
        return np.array(self._read(frame, "plate")[:, :, :3], dtype=np.float32, order="C", copy=True)

    def _source_rgb(self, frame: int) -> np.ndarray:
        """The frame's RGB at full resolution, to read from (no copy when the plate is float32 RGB)."""
        return np.ascontiguousarray(self._read(frame, "plate")[:, :, :3], dtype=np.float32)

    def _prepare(self, position: int) -> PreparedFrame:
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
            return PreparedFrame(None, np.zeros((0, 0), bool), luma, np.zeros(luma.shape, bool))
        margin = self._options.margin
        x0, y0 = max(0, bx - margin), max(0, by - margin)
        x1, y1 = min(shape[1], bx + bw + margin), min(shape[0], by + bh + margin)
        hole = hole8[y0:y1, x0:x1]
        if margin:
            hole = cv2.dilate(hole, disk(margin))
        hole_small = self._grid.coverage(hole > 0, x0, y0)
        self._sources.include((x0, y0, x1, y1))
        return PreparedFrame((x0, y0, x1, y1), hole > 0, luma, hole_small)

    def _pair(self, position: int) -> Tuple[np.ndarray, np.ndarray]:
        """Completed flows position → position+1 and back, at flow resolution (stored as float16)."""
        a, b = self._frames[position], self._frames[position + 1]
        forward, backward = pair_flows(self._flow, a.luma, a.hole_small.view(np.uint8), b.luma,
                                       b.hole_small.view(np.uint8))
        return forward.astype(np.float16), backward.astype(np.float16)


def create_engine(settings: Dict[str, Any]) -> ClassicEngine:
    """The server's factory; the classic engine needs no settings (no weights, no GPU)."""
    return ClassicEngine()
