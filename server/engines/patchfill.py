"""Multi-scale patch-based filling: texture for what no frame of the shot shows.

The unknown region is filled by copying patches of the known surroundings, as
in Wexler, Shechtman and Irani (2007): coarse to fine over an image pyramid,
each level alternates a nearest-neighbour-field search (PatchMatch, Barnes et
al. 2009, vectorised: every patch tries its neighbours' matches at a few jump
lengths, then random ones at shrinking radii) with a vote, where each unknown
pixel becomes the weighted mean of what the patches overlapping it copy there.

Three things keep structure and texture: the coarsest level is filled ring by
ring from the edge inward (exhaustive search over what is known around each
pixel), so an edge or seam that reaches the region runs on into it; patch
distances weigh known pixels above guessed ones (confidence); and each finer
level starts from a vote of its own pixels where the upscaled matches point,
not from a blurred upscale.

``synthesize`` works at whatever resolution it is given (the classic engine
gives it a reduced one) and ends with a lattice of block displacements;
``transfer`` then carries the result to full resolution by copying real
full-resolution blocks along those displacements, so the fill is made of real
texture, not of an upscaled one.

Patch distances are computed on compact descriptors of a tone-mapped copy of
the image: luminance at 4x4 points two pixels apart, and colour at the centre.
Every random choice comes from the given seed, so a fill is reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import cv2
import numpy as np

PATCH_RADIUS = 4
"""A patch reaches this far from its centre (descriptor points plus their blur):
source centres lie at least this far inside the known region."""
VOTE_RADIUS = 2
"""Each unknown pixel takes votes from the patches centred this close to it."""
BLEND = 0.35
"""Share of the distance between two lattice nodes over which their blocks cross-fade."""
COARSEST = 24
"""The pyramid stops when the unknown region's bounding box fits in this many pixels."""
_SCHEDULE = {"coarsest": (6, 4), "middle": (3, 2), "finest": (2, 2)}
"""(vote rounds, search iterations per round) by pyramid level."""
_JUMPS = (8, 4, 2, 1)
"""How far away (pixels) the neighbours whose matches a patch tries are."""
_DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0))
_OFFSETS = (-3, -1, 1, 3)
"""Where, around a patch's centre, its descriptor reads the luminance (in x and in y)."""
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
_CHROMA_WEIGHT = 3.0
"""Weight of the two colour entries of a descriptor against its 16 luminance entries."""
_CONFIDENCE_DECAY = 1.3
"""Confidence in a guessed pixel falls by this factor per pixel into the unknown region."""
_PEEL_SOURCES = 6000
"""Source patches the coarsest level's exhaustive search compares (evenly thinned beyond this)."""
_OUTSIDE = 1e3
"""Cost of a block pixel whose source is not background: such blocks are never chosen."""
_COHERENCE = 0.5
"""A neighbour's match (shifted) replaces a patch's own when it costs less than the own plus this
share of the median cost, and a random guess only when it costs less by that much: neighbouring
patches copy from neighbouring places, so texture is copied in coherent pieces."""

KnownFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""known(xs, ys) -> bool array: whether those full-resolution pixels hold background."""


@dataclass
class Synthesis:
    """A filled image and where its texture comes from, on a lattice of nodes over it."""

    image: np.ndarray
    """float32 (h, w, 3): the input with its unknown region filled."""
    offset_x: np.ndarray
    """int (rows, cols): how far (pixels) the texture around each lattice node is copied from."""
    offset_y: np.ndarray
    spacing: int
    """Pixels between lattice nodes; node (i, j) sits at pixel (j * spacing, i * spacing)."""


def synthesize(image: np.ndarray, unknown: np.ndarray, seed: int, spacing: int = 4) -> Optional[Synthesis]:
    """Fill ``unknown`` (bool (h, w)) of float32 ``image`` (h, w, 3) from its known patches.

    ``spacing`` is the distance between the lattice nodes of the result (pixels).
    Returns None when the known region holds no whole patch to copy from.
    """
    pyramid = _pyramid(image, unknown)
    if pyramid is None:
        return None
    rng = np.random.default_rng(seed)
    estimate: Optional[np.ndarray] = None
    field: Optional[Tuple[np.ndarray, np.ndarray]] = None
    for depth in range(len(pyramid) - 1, -1, -1):
        level_image, level_unknown = pyramid[depth]
        kind = "coarsest" if depth == len(pyramid) - 1 else "finest" if depth == 0 else "middle"
        level = _Level(level_image, level_unknown, rng)
        level.start(estimate, field)
        rounds, iterations = _SCHEDULE[kind]
        for _ in range(rounds):
            level.search(iterations)
            level.vote()
        estimate, field = level.estimate, level.dense_field()
    assert estimate is not None
    offset_x, offset_y = level.lattice(spacing)
    return Synthesis(estimate, offset_x, offset_y, spacing)


def _pyramid(image: np.ndarray, unknown: np.ndarray) -> Optional[List[Tuple[np.ndarray, np.ndarray]]]:
    """Image and unknown mask, halved until the unknown region is small; None without sources."""
    levels = [(image.astype(np.float32), unknown.astype(bool))]
    if not _sources(levels[0][1]).any():
        return None
    while True:
        img, unk = levels[-1]
        _, _, bw, bh = cv2.boundingRect(unk.astype(np.uint8))
        if max(bw, bh) <= COARSEST or min(unk.shape) < 4 * COARSEST:
            return levels
        size = ((unk.shape[1] + 1) // 2, (unk.shape[0] + 1) // 2)
        smaller = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        smaller_unknown = cv2.resize(unk.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
        if not _sources(smaller_unknown).any():
            return levels
        levels.append((smaller, smaller_unknown))


def _sources(unknown: np.ndarray) -> np.ndarray:
    """Pixels that can be a patch centre to copy from: the whole patch is known and in the image."""
    known = (~unknown).astype(np.uint8)
    inner = cv2.erode(known, np.ones((2 * PATCH_RADIUS + 1,) * 2, np.uint8), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0)
    return inner > 0


def _confidence(unknown: np.ndarray) -> np.ndarray:
    """(h*w, 18) float32 weights of each pixel's descriptor entries, by the confidence in the pixel each
    entry reads: 1 where known, decaying with the distance into the unknown region (Wexler et al.), and
    normalised per pixel. A patch at the edge of the region is matched on what is known around it
    rather than on the current guess; one inside the region on all of it alike."""
    distance = cv2.distanceTransform(unknown.astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.power(_CONFIDENCE_DECAY, -distance).astype(np.float32)
    stacked = _stack(weight, weight, weight)
    return stacked * (stacked.shape[1] / stacked.sum(axis=1, keepdims=True))


def _stack(luma: np.ndarray, chroma_a: np.ndarray, chroma_b: np.ndarray) -> np.ndarray:
    """Descriptor layout: ``luma`` read at the sample points around each pixel, then two centre values."""
    h, w = luma.shape
    pad = max(_OFFSETS)
    padded = cv2.copyMakeBorder(luma, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    columns = [padded[pad + dy:pad + dy + h, pad + dx:pad + dx + w] for dy in _OFFSETS for dx in _OFFSETS]
    columns += [chroma_a, chroma_b]
    return np.stack(columns, axis=-1).reshape(h * w, -1)


def _descriptors(image: np.ndarray) -> np.ndarray:
    """(h*w, 18) float32: tone-mapped luminance at 4x4 points two pixels apart, and colour at the centre."""
    positive = np.maximum(np.nan_to_num(image, nan=0.0, posinf=1e6, neginf=0.0), 0.0)
    encoded = np.power(positive / (1.0 + positive), 1.0 / 2.2)
    luma = cv2.GaussianBlur(np.ascontiguousarray(encoded @ _LUMA), (0, 0), 0.6)
    chroma = cv2.GaussianBlur(encoded - (encoded @ _LUMA)[:, :, None], (0, 0), 1.5)
    return _stack(luma, chroma[:, :, 0] * _CHROMA_WEIGHT, chroma[:, :, 2] * _CHROMA_WEIGHT)


class _Level:
    """One pyramid level: the current estimate and the nearest-neighbour field of its target patches."""

    def __init__(self, image: np.ndarray, unknown: np.ndarray, rng: np.random.Generator) -> None:
        self.image, self.unknown, self.rng = image, unknown, rng
        self.height, self.width = unknown.shape
        self.sources = _sources(unknown)
        grow = np.ones((2 * PATCH_RADIUS + 1,) * 2, np.uint8)
        self.targets = cv2.dilate(unknown.astype(np.uint8), grow) > 0
        self.ty, self.tx = np.nonzero(self.targets)
        self.uy, self.ux = np.nonzero(unknown)
        # the nearest source centre of every pixel, to snap random guesses onto sources
        _, labels = cv2.distanceTransformWithLabels((~self.sources).astype(np.uint8), cv2.DIST_L2, 5,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
        sy, sx = np.nonzero(self.sources)
        self._snap_y, self._snap_x = sy[labels - 1], sx[labels - 1]
        self.estimate = image.copy()
        self.sy = np.zeros(len(self.ty), np.intp)
        self.sx = np.zeros(len(self.ty), np.intp)
        self.cost = np.zeros(len(self.ty), np.float32)
        self._features = np.zeros((0, 0), np.float32)
        self._target_features = np.zeros((0, 0), np.float32)
        self._weights = _confidence(unknown)
        self._target_weights = np.zeros((0, 0), np.float32)
        self._slack = 0.0

    # -- set-up ----------------------------------------------------------------------------

    def start(self, coarser: Optional[np.ndarray], field: Optional[Tuple[np.ndarray, np.ndarray]]) -> None:
        """Initial estimate and field: peeled in from the edge at the coarsest level, else from the level above."""
        if coarser is None or field is None:
            self._peel()
        else:
            up = cv2.resize(coarser, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            self.estimate[self.unknown] = up[self.unknown]
            cy = np.minimum(self.ty // 2, field[0].shape[0] - 1)
            cx = np.minimum(self.tx // 2, field[0].shape[1] - 1)
            self.sy, self.sx = self._snap(2 * field[1][cy, cx] + (self.ty - 2 * cy),
                                          2 * field[0][cy, cx] + (self.tx - 2 * cx))
            self._refresh()
            self.vote()  # this level's own pixels where the matches point: sharper than the upscaled guess
        self._refresh()

    def _peel(self) -> None:
        """Fill the unknown region one ring at a time from its edge inward, each pixel copying the centre
        of the source patch that best matches what is already known or filled around it (exhaustive search:
        this level is small). Structure that reaches the edge (a table's edge, a seam) runs on into the
        region, where a smooth first guess would let the first search settle it anywhere."""
        sy, sx = np.nonzero(self.sources)
        step = max(1, len(sy) // _PEEL_SOURCES)
        sy, sx = sy[::step], sx[::step]
        filled = ~self.unknown
        self._smooth_start()  # what the not yet filled pixels hold: neutral under the descriptors' blur
        source_features = _descriptors(self.estimate)[sy * self.width + sx]
        while not filled.all():
            ring = self.unknown & ~filled & (cv2.dilate(filled.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
            if not ring.any():  # nothing known touches what is left: leave it to the search
                break
            ry, rx = np.nonzero(ring)
            flat = ry * self.width + rx
            features = _descriptors(self.estimate)[flat]
            weights = _stack(*(filled.astype(np.float32),) * 3)[flat]
            weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-6)
            cost = (weights * features ** 2).sum(axis=1)[:, None] - 2 * (weights * features) @ source_features.T \
                + weights @ (source_features ** 2).T
            best = np.argmin(cost, axis=1)
            self.estimate[ry, rx] = self.image[sy[best], sx[best]]
            filled[ry, rx] = True
        picks = self.rng.integers(0, len(sy), len(self.ty))
        self.sy, self.sx = sy[picks], sx[picks]

    def _smooth_start(self) -> None:
        """A smooth guess (Navier-Stokes inpainting per channel) in the unknown region."""
        mask = self.unknown.astype(np.uint8)
        clean = np.nan_to_num(self.image, nan=0.0, posinf=0.0, neginf=0.0)
        self.estimate = np.stack([cv2.inpaint(np.ascontiguousarray(clean[:, :, c]), mask, 3.0, cv2.INPAINT_NS)
                                  for c in range(3)], axis=-1)
        self.estimate[~self.unknown] = self.image[~self.unknown]

    def _snap(self, ys: np.ndarray, xs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        ys = np.clip(ys, 0, self.height - 1)
        xs = np.clip(xs, 0, self.width - 1)
        return self._snap_y[ys, xs], self._snap_x[ys, xs]

    def _refresh(self) -> None:
        """Descriptors of the current estimate, and the cost of the current field under them."""
        self._features = _descriptors(self.estimate)
        self._target_features = self._features[self.ty * self.width + self.tx]
        self._target_weights = self._weights[self.ty * self.width + self.tx]
        self.cost = self._distance(np.arange(len(self.ty)), self.sy, self.sx)

    def _distance(self, which: np.ndarray, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
        diff = self._target_features[which] - self._features[sy * self.width + sx]
        return np.einsum("ij,ij,ij->i", diff, diff, self._target_weights[which])

    # -- search ----------------------------------------------------------------------------

    def search(self, iterations: int) -> None:
        """Improve the field: neighbours' matches at several jump lengths, then random guesses."""
        self._refresh()
        self._slack = _COHERENCE * float(np.median(self.cost)) if len(self.cost) else 0.0
        dense_y = np.full((self.height, self.width), -1, np.intp)
        dense_x = np.full((self.height, self.width), -1, np.intp)
        for _ in range(iterations):
            dense_y[self.ty, self.tx], dense_x[self.ty, self.tx] = self.sy, self.sx
            for jump in _JUMPS:
                for dy, dx in _DIRECTIONS:
                    ny, nx = self.ty - dy * jump, self.tx - dx * jump
                    ok = (ny >= 0) & (ny < self.height) & (nx >= 0) & (nx < self.width)
                    which = np.flatnonzero(ok)
                    cy = dense_y[ny[which], nx[which]] + dy * jump
                    cx = dense_x[ny[which], nx[which]] + dx * jump
                    has = (dense_y[ny[which], nx[which]] >= 0) & (cy >= 0) & (cy < self.height) \
                        & (cx >= 0) & (cx < self.width)
                    which, cy, cx = which[has], cy[has], cx[has]
                    keep = self.sources[cy, cx]
                    self._try(which[keep], cy[keep], cx[keep], self._slack)
            radius = max(self.height, self.width)
            while radius >= 1:
                cy, cx = self._snap(self.sy + self.rng.integers(-radius, radius + 1, len(self.sy)),
                                    self.sx + self.rng.integers(-radius, radius + 1, len(self.sx)))
                self._try(np.arange(len(self.ty)), cy, cx, -self._slack)
                radius //= 2

    def _try(self, which: np.ndarray, cy: np.ndarray, cx: np.ndarray, slack: float = 0.0) -> None:
        if not len(which):
            return
        cost = self._distance(which, cy, cx)
        better = (cost < self.cost[which] + slack) & ((cy != self.sy[which]) | (cx != self.sx[which]))
        chosen = which[better]
        self.sy[chosen], self.sx[chosen], self.cost[chosen] = cy[better], cx[better], cost[better]

    # -- vote ------------------------------------------------------------------------------

    def vote(self) -> None:
        """Each unknown pixel becomes the weighted mean of what the patches over it copy there."""
        index = np.full((self.height, self.width), -1, np.intp)
        index[self.ty, self.tx] = np.arange(len(self.ty))
        spread = float(np.percentile(self.cost, 75)) + 1e-6
        weight = np.exp(-self.cost / spread).astype(np.float32)
        total = np.zeros((len(self.uy), 3), np.float32)
        weights = np.zeros(len(self.uy), np.float32)
        for dy in range(-VOTE_RADIUS, VOTE_RADIUS + 1):
            for dx in range(-VOTE_RADIUS, VOTE_RADIUS + 1):
                cy, cx = self.uy - dy, self.ux - dx
                ok = (cy >= 0) & (cy < self.height) & (cx >= 0) & (cx < self.width)
                pick = np.flatnonzero(ok)
                t = index[cy[pick], cx[pick]]
                pick, t = pick[t >= 0], t[t >= 0]
                w = weight[t]
                total[pick] += w[:, None] * self.image[self.sy[t] + dy, self.sx[t] + dx]
                weights[pick] += w
        voted = weights > 0
        values = self.estimate[self.uy, self.ux]
        values[voted] = total[voted] / weights[voted, None]
        self.estimate[self.uy, self.ux] = values

    def lattice(self, spacing: int) -> Tuple[np.ndarray, np.ndarray]:
        """One displacement per lattice node, chosen so its whole block fits the estimate.

        Per-pixel matches differ from pixel to pixel in texture that repeats or
        is stochastic; copied as they are to full resolution they make a mosaic of
        tiny tiles. Each node takes, among the matches found in its block, the one
        whose displacement fits the block best, and then its neighbours' when they
        fit better still, so texture is copied in coherent blocks.
        """
        self._refresh()
        rows, cols = -(-(self.height - 1) // spacing) + 1, -(-(self.width - 1) // spacing) + 1
        ny = np.minimum(np.arange(rows) * spacing, self.height - 1)
        nx = np.minimum(np.arange(cols) * spacing, self.width - 1)
        near = cv2.dilate(self.unknown.astype(np.uint8), np.ones((2 * spacing + 1,) * 2, np.uint8)) > 0
        node_y, node_x = np.meshgrid(ny, nx, indexing="ij")
        active = np.flatnonzero(near[node_y, node_x].ravel())
        offset_x = np.zeros(rows * cols, np.intp)
        offset_y = np.zeros(rows * cols, np.intp)
        if not len(active):
            return offset_x.reshape(rows, cols), offset_y.reshape(rows, cols)
        ay, ax = node_y.ravel()[active], node_x.ravel()[active]
        field_x, field_y = self.dense_field()
        steps = range(-spacing + 1, spacing, max(2, spacing // 4))
        window = [(dy, dx, (1 - abs(dy) / spacing) * (1 - abs(dx) / spacing)) for dy in steps for dx in steps]
        best = np.full(len(active), np.inf, np.float32)
        half = spacing // 2
        for cy_off in (-half, 0, half):
            for cx_off in (-half, 0, half):
                py = np.clip(ay + cy_off, 0, self.height - 1)
                px = np.clip(ax + cx_off, 0, self.width - 1)
                oy, ox = field_y[py, px] - py, field_x[py, px] - px
                cost = self._block_cost(ay, ax, oy, ox, window)
                better = cost < best
                best[better], offset_y[active[better]], offset_x[active[better]] = cost[better], oy[better], ox[better]
        grid_y, grid_x = offset_y.reshape(rows, cols), offset_x.reshape(rows, cols)
        ai, aj = np.divmod(active, cols)
        for _ in range(2):
            for di, dj in _DIRECTIONS:
                ni, nj = np.clip(ai + di, 0, rows - 1), np.clip(aj + dj, 0, cols - 1)
                oy, ox = grid_y[ni, nj], grid_x[ni, nj]
                cost = self._block_cost(ay, ax, oy, ox, window)
                better = cost < best
                best[better] = cost[better]
                grid_y[ai[better], aj[better]], grid_x[ai[better], aj[better]] = oy[better], ox[better]
        return grid_x, grid_y

    def _block_cost(self, ay: np.ndarray, ax: np.ndarray, oy: np.ndarray, ox: np.ndarray,
                    window: List[Tuple[int, int, float]]) -> np.ndarray:
        """How well the blocks around (ay, ax), displaced by (oy, ox), match the estimate there."""
        cost = np.zeros(len(ay), np.float32)
        for dy, dx, weight in window:
            ty = np.clip(ay + dy, 0, self.height - 1)
            tx = np.clip(ax + dx, 0, self.width - 1)
            sy, sx = ty + oy, tx + ox
            inside = (sy >= 0) & (sy < self.height) & (sx >= 0) & (sx < self.width)
            sy, sx = np.clip(sy, 0, self.height - 1), np.clip(sx, 0, self.width - 1)
            diff = self._features[ty * self.width + tx] - self._features[sy * self.width + sx]
            term = np.einsum("ij,ij->i", diff, diff)
            term[~(inside & self.sources[sy, sx])] = _OUTSIDE
            cost += weight * term
        return cost

    def dense_field(self) -> Tuple[np.ndarray, np.ndarray]:
        """(source_x, source_y) for every pixel: the matched centre for targets, the pixel itself elsewhere."""
        sx, sy = np.meshgrid(np.arange(self.width, dtype=np.int32), np.arange(self.height, dtype=np.int32))
        sx[self.ty, self.tx] = self.sx
        sy[self.ty, self.tx] = self.sy
        return sx, sy


def transfer(frame: np.ndarray, known: KnownFn, xs: np.ndarray, ys: np.ndarray, gx: np.ndarray,
             gy: np.ndarray, synthesis: Synthesis, scale: Tuple[float, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Full-resolution values for the pixels (xs, ys) of ``frame`` from a reduced-resolution synthesis.

    (gx, gy) are each pixel's coordinates on the synthesis grid; ``scale`` is
    (grid pixels per frame pixel) in x and y. Each of the four lattice nodes
    around a pixel copies from a displacement; the same displacement, scaled
    up, points at a full-resolution pixel of ``frame``, and the pixel becomes the
    blend of those that ``known`` accepts, weighted by closeness to each node
    with the cross-fade narrowed to BLEND of the way between nodes. Where the
    nodes agree, and away from the cross-fades, the pixel is an exact copy of
    real texture. Returns (values, found).
    """
    rows, cols = synthesis.offset_x.shape
    lx, ly = gx / synthesis.spacing, gy / synthesis.spacing
    x0 = np.clip(np.floor(lx).astype(np.intp), 0, cols - 1)
    y0 = np.clip(np.floor(ly).astype(np.intp), 0, rows - 1)
    fx = np.clip((lx - x0 - 0.5) / BLEND + 0.5, 0, 1).astype(np.float32)
    fy = np.clip((ly - y0 - 0.5) / BLEND + 0.5, 0, 1).astype(np.float32)
    total = np.zeros((len(xs), 3), np.float32)
    weights = np.zeros(len(xs), np.float32)
    for ay in (0, 1):
        for ax in (0, 1):
            ny, nx = np.minimum(y0 + ay, rows - 1), np.minimum(x0 + ax, cols - 1)
            wgt = (fx if ax else 1 - fx) * (fy if ay else 1 - fy)
            sx = xs + np.rint(synthesis.offset_x[ny, nx] / scale[0]).astype(np.intp)
            sy = ys + np.rint(synthesis.offset_y[ny, nx] / scale[1]).astype(np.intp)
            ok = (wgt > 0) & known(sx, sy)
            total[ok] += wgt[ok, None] * frame[sy[ok], sx[ok]]
            weights[ok] += wgt[ok]
    found = weights > 0
    total[found] /= weights[found, None]
    return total, found
