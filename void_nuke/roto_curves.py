"""Nuke's Roto semantics as plain data: outlines from sampled curves, feathers, lifetimes, blend modes.

``void_nuke.nuke.roto`` reads a Roto node through Foundry's API and hands
the numbers to the functions here, which know no ``nuke``:

- **Outlines.** ``Shape.evaluate(0, frame).getPoint(t)`` gives the curve Nuke
  draws, whatever its type (a B-spline's control points lie off it), with
  segment ``i`` of an ``n``-point closed shape on ``t`` in ``[i/n, (i+1)/n]``.
  ``fit_outline`` turns that into cubic Béziers: four samples of a piece fix
  its cubic exactly, a fifth at the middle checks it, and a piece whose check
  misses (a projective transform, a curve that is not one cubic per segment)
  is split in two, up to ``MAX_LEVEL`` times. Samples pass through the whole
  transform chain first, so the fit is made in plate pixels.
- **Feathers.** A point's feather offset becomes a width that keeps its
  direction: positive outward, negative inward (``signed_widths``).
- **Lifetime.** ``lifetime`` maps Nuke's lifetime type and its two frames
  onto an inclusive frame range (see its docstring for the sources).
- **Blend modes.** ``blend_mode`` maps a shape's ``bm`` values to the modes
  the server's rasteriser draws exactly, or None.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from .errors import ShotError
from .sequences import FrameRange
from .shapes import ControlPoint, ShapeKey

Point = Tuple[float, float]
Matrix = Tuple[float, ...]
"""16 floats, row-major (Nuke's ``CMatrix4``): ``x' = (m0*x + m1*y + m3) / (m12*x + m13*y + m15)``."""

MAX_LEVEL = 4
"""A curve segment is split into at most ``2**MAX_LEVEL`` Bézier pieces."""
FIT_TOLERANCE = 1e-3
"""Largest distance, in plate pixels, between a fitted piece's middle and the curve's."""
DECIMALS = 9
"""Fitted coordinates are rounded to a billionth of a pixel: the fit's float noise stays out of shot files."""

BLEND_MODES = ("over", "max", "multiply", "color-burn", "min", "screen", "color-dodge", "plus", "overlay",
               "soft-light", "hard-light", "from", "minus", "difference", "exclusion")
"""The Roto blending-mode menu; a shape's ``bm`` attribute is the index (rotobridge probes 94-98, Nuke 17.1)."""
EXACT_BLEND_MODES = {0: "add", 5: "add", 12: "subtract"}
"""Blend modes whose alpha the server's rasteriser draws exactly.

For alpha, ``over`` and ``screen`` are both ``a + r - a*r`` (the raster's
``add``); ``minus`` takes the shape from what lies below it, ``r - a``
(probe 98: A only reads -1), the raster's ``subtract``. The others (max,
plus, multiply...) differ on soft edges or overlaps, so they are rendered.
"""

LIFETIME_ALL, LIFETIME_FROM_START, LIFETIME_SINGLE, LIFETIME_TO_END, LIFETIME_RANGE = range(5)
"""``ltt`` values: Foundry's ``_rotopaint.FrameRangeType`` (All 0, FromStart 1, Single 2, ToEnd 3,
FromStartToEnd 4)."""


# -- transforms ------------------------------------------------------------------------------

def apply(m: Matrix, x: float, y: float) -> Point:
    w = m[12] * x + m[13] * y + m[15]
    if abs(w) < 1e-12:
        raise ShotError("shapes", "a Roto transform sends a point to infinity; check the layer's "
                                  "extra matrix / corner pin")
    return ((m[0] * x + m[1] * y + m[3]) / w, (m[4] * x + m[5] * y + m[7]) / w)


def through(chain: Sequence[Matrix], x: float, y: float) -> Point:
    """A point through each matrix in order (the shape's own first, then its layers inward out)."""
    for m in chain:
        x, y = apply(m, x, y)
    return x, y


# -- outlines --------------------------------------------------------------------------------

def _cubic_from_samples(p0: Point, p1: Point, p2: Point, p3: Point) -> Tuple[Point, Point]:
    """The inner control points of the cubic through p0..p3 at t = 0, 1/3, 2/3, 1.

    B(1/3) = (8 P0 + 12 C1 + 6 C2 + P3) / 27 and B(2/3) = (P0 + 6 C1 + 12 C2 + 8 P3) / 27.
    """
    r1 = [27 * p1[k] - 8 * p0[k] - p3[k] for k in (0, 1)]
    r2 = [27 * p2[k] - p0[k] - 8 * p3[k] for k in (0, 1)]
    c1 = ((2 * r1[0] - r2[0]) / 18, (2 * r1[1] - r2[1]) / 18)
    c2 = ((2 * r2[0] - r1[0]) / 18, (2 * r2[1] - r1[1]) / 18)
    return c1, c2


def _bezier(p0: Point, c1: Point, c2: Point, p3: Point, t: float) -> Point:
    u = 1 - t
    w = (u ** 3, 3 * u * u * t, 3 * u * t * t, t ** 3)
    return (sum(wk * p[0] for wk, p in zip(w, (p0, c1, c2, p3))),
            sum(wk * p[1] for wk, p in zip(w, (p0, c1, c2, p3))))


Piece = Tuple[Point, Point, Point, float]
"""A fitted piece: start point, its out handle, the next point's in handle, and its start ``t``."""


def fit_outline(sample: Callable[[float], Point], segments: int, levels: Sequence[int],
                tolerance: float = FIT_TOLERANCE) -> Tuple[List[Piece], List[int]]:
    """Cubic Bézier pieces of a closed curve sampled by ``sample(t)``, t in [0, 1].

    Segment ``i`` (``t`` in ``[i/n, (i+1)/n]``) is cut into ``2**levels[i]``
    pieces. Returns the pieces in order and, per segment, the level the curve
    needs (at least ``levels[i]``): when one is higher, fit again with it.
    """
    pieces: List[Piece] = []
    needed = list(levels)
    cache = {}

    def at(t: float) -> Point:
        if t not in cache:
            cache[t] = sample(min(max(t, 0.0), 1.0))
        return cache[t]

    for i in range(segments):
        count = 2 ** levels[i]
        step = 1.0 / (segments * count)
        for k in range(count):
            t0 = (i + k / count) / segments
            p0, p1, p2, p3 = at(t0), at(t0 + step / 3), at(t0 + 2 * step / 3), at(t0 + step)
            c1, c2 = _cubic_from_samples(p0, p1, p2, p3)
            mid, check = _bezier(p0, c1, c2, p3, 0.5), at(t0 + step / 2)
            if math.hypot(mid[0] - check[0], mid[1] - check[1]) > tolerance and levels[i] < MAX_LEVEL:
                needed[i] = max(needed[i], levels[i] + 1)
            pieces.append((p0, c1, c2, t0))
    return pieces, needed


def _orientation(pieces: Sequence[Piece]) -> float:
    """Twice the signed area of the control polygon (its sign is the winding)."""
    ring = [p for piece in pieces for p in piece[:3]]
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1]))


def signed_widths(pieces: Sequence[Piece], offsets: Sequence[Point]) -> List[float]:
    """Each piece start's feather offset as a width: its length, negative when it points inward."""
    winding = 1.0 if _orientation(pieces) >= 0 else -1.0
    widths = []
    count = len(pieces)
    for k, ((px, py), out, _, _) in enumerate(pieces):
        previous = pieces[k - 1]
        tx, ty = out[0] - previous[2][0], out[1] - previous[2][1]
        if math.hypot(tx, ty) < 1e-9:  # a corner without handles: along its neighbours
            nxt = pieces[(k + 1) % count][0]
            tx, ty = nxt[0] - previous[0][0], nxt[1] - previous[0][1]
        nx, ny = winding * ty, -winding * tx  # the right-hand side of a positive winding is outside
        dx, dy = offsets[k]
        length = math.hypot(dx, dy)
        widths.append(length if dx * nx + dy * ny >= 0 else -length)
    return widths


def key_from_pieces(frame: int, pieces: Sequence[Piece], widths: Sequence[float], opacity: float,
                    feather: float) -> ShapeKey:
    """A ``ShapeKey`` from fitted pieces (point k's in handle is piece k-1's second control point)."""
    points = []
    for k, (p, out, _, _) in enumerate(pieces):
        into = pieces[k - 1][2]
        values = (p[0], p[1], into[0], into[1], out[0], out[1], widths[k])
        points.append(ControlPoint(*(round(v, DECIMALS) for v in values)))
    return ShapeKey(frame, tuple(points), min(1.0, max(0.0, opacity)), feather)


def drop_held_keys(keys: List[ShapeKey]) -> List[ShapeKey]:
    """Drop keys equal to both neighbours: linear interpolation gives them back exactly."""
    def same(a: ShapeKey, b: ShapeKey) -> bool:
        return a.points == b.points and a.opacity == b.opacity and a.feather == b.feather

    return [key for i, key in enumerate(keys)
            if not (0 < i < len(keys) - 1 and same(keys[i - 1], key) and same(key, keys[i + 1]))]


# -- attributes ------------------------------------------------------------------------------

def lifetime(kind: float, start: float, end: float, frames: FrameRange) -> Optional[Tuple[int, int]]:
    """The inclusive frames a shape lives on, or None for every frame.

    ``kind`` is ``ltt`` (Foundry's FrameRangeType: all, from start, single,
    to end, start to end). Foundry documents the type, not which of ``ltn`` /
    ``ltm`` holds the first frame; public tools disagree. Here ``ltn`` is the
    first frame and ``ltm`` the last: the order Nuke serialises them in
    (``ltn 0 ltm 0``) and the reading of public lifetime-offset scripts (jedypod's gist).
    A single frame is ``ltn``; "start to frame" ends at ``ltm``; "frame to
    end" starts at ``ltn``. Open ends are clamped to ``frames``.
    """
    kind_, first, last = int(round(kind)), int(round(start)), int(round(end))
    if kind_ == LIFETIME_ALL:
        return None
    if kind_ == LIFETIME_SINGLE:
        return (first, first)
    if kind_ == LIFETIME_FROM_START:
        return (min(frames.first, last), last)
    if kind_ == LIFETIME_TO_END:
        return (first, max(frames.last, first))
    if kind_ == LIFETIME_RANGE:
        return (min(first, last), max(first, last))
    raise ShotError("shapes", f"unknown Roto lifetime type {kind_}; expected 0-4")


def blend_name(value: float) -> str:
    index = int(round(value))
    return BLEND_MODES[index] if 0 <= index < len(BLEND_MODES) else f"blend mode {index}"


def blend_mode(values: Iterable[float]) -> Optional[str]:
    """The raster mode for a shape's ``bm`` on every frame, or None when one is not exact."""
    modes = {EXACT_BLEND_MODES.get(int(round(v))) for v in values}
    if None in modes or len(modes) != 1:
        return None
    return modes.pop()
