"""Roto rasterisation: exact-coverage accuracy, feather, combination, animation, windows."""
from __future__ import annotations

import math

import numpy as np
import pytest

from void_nuke.exrio import ImageSpec
from void_nuke.shapes import ControlPoint, Shape, ShapeKey
from void_server.raster import outline_polygon, rasterize_shape, rasterize_shapes

KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)


def circle_points(cx: float, cy: float, r: float, feather: float = 0.0):
    """A circle as four cubic Béziers with the standard kappa handles."""
    points = []
    for quarter in range(4):
        a = quarter * math.pi / 2
        x, y = cx + r * math.cos(a), cy + r * math.sin(a)
        tx, ty = -math.sin(a) * KAPPA * r, math.cos(a) * KAPPA * r
        points.append(ControlPoint(x, y, x - tx, y - ty, x + tx, y + ty, feather))
    return tuple(points)


def polygon_points(coords, feathers=None):
    feathers = feathers or [0.0] * len(coords)
    return tuple(ControlPoint.corner(x, y, f) for (x, y), f in zip(coords, feathers))


def make_shape(points, name="s", role="remove", feather=0.0, opacity=1.0, frame=1, **kw) -> Shape:
    return Shape(name, role, (ShapeKey(frame, points, opacity, feather),), **kw)


def exact_coverage(polygon: np.ndarray, width: int, height: int, sub: int = 64) -> np.ndarray:
    """Pixel coverage of a closed polygon by exact vertical-span integration (even-odd).

    For ``sub`` sample columns per pixel the polygon's spans are intersected
    exactly with every pixel row; only the integration across x is sampled
    (midpoint rule on a piecewise-linear function, error ~1e-4).
    """
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    rows = np.arange(height)
    cov = np.zeros((height, width))
    for k in range(width * sub):
        x = (k + 0.5) / sub
        lo, hi = np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0])
        hit = (lo <= x) & (x < hi)
        if not hit.any():
            continue
        t = (x - a[hit, 0]) / (b[hit, 0] - a[hit, 0])
        ys = np.sort(a[hit, 1] + t * (b[hit, 1] - a[hit, 1]))
        top, bottom = ys[0::2], ys[1::2]
        span = np.clip(np.minimum(bottom[:, None], rows + 1) - np.maximum(top[:, None], rows), 0, None)
        cov[:, k // sub] += span.sum(axis=0) / sub
    return cov


def dense_bezier_outline(points, steps: int = 2000) -> np.ndarray:
    """The true closed cubic outline, sampled finely (far below 1e-3 px from the curve)."""
    out = []
    for p, q in zip(points, points[1:] + points[:1]):
        t = np.arange(steps)[:, None] / steps
        ctrl = [np.array(c) for c in ((p.x, p.y), (p.out_x, p.out_y), (q.in_x, q.in_y), (q.x, q.y))]
        out.append((1 - t) ** 3 * ctrl[0] + 3 * (1 - t) ** 2 * t * ctrl[1]
                   + 3 * (1 - t) * t ** 2 * ctrl[2] + t ** 3 * ctrl[3])
    return np.concatenate(out)


def edge_error(alpha: np.ndarray, ref: np.ndarray) -> float:
    edge = ((ref > 0) & (ref < 1)) | ((alpha > 0) & (alpha < 1))
    assert edge.sum() > 40
    return float(np.abs(alpha - ref)[edge].mean())


def test_circle_coverage_matches_exact_area():
    points = circle_points(23.37, 19.71, 15.3)
    alpha = rasterize_shape(make_shape(points), 1, (0, 0, 48, 40))
    ref = exact_coverage(dense_bezier_outline(points), 48, 40)
    assert edge_error(alpha, ref) < 0.01
    assert np.abs(alpha - ref).max() < 0.03
    assert alpha.sum() == pytest.approx(ref.sum(), rel=2e-3)


def test_concave_polygon_coverage_matches_exact_area():
    coords = [(3.2, 4.7), (40.6, 2.1), (30.25, 18.5), (44.9, 33.3), (12.4, 36.8), (18.7, 17.2)]
    alpha = rasterize_shape(make_shape(polygon_points(coords)), 1, (0, 0, 48, 40))
    ref = exact_coverage(np.array(coords), 48, 40)
    assert edge_error(alpha, ref) < 0.01
    # The notch between the two arms stays empty.
    assert alpha[20:24, 40:43].max() == 0.0


def test_flattening_stays_within_tolerance_of_the_curve():
    points = circle_points(500.0, 400.0, 300.0)
    poly = outline_polygon(ShapeKey(1, points), tolerance=0.02)
    # Midpoints of the polyline's chords are the farthest points from the true circle
    # (up to the kappa approximation's own 0.027 % radial bulge).
    mid = (poly + np.roll(poly, -1, axis=0)) / 2
    radius = np.hypot(mid[:, 0] - 500.0, mid[:, 1] - 400.0)
    assert radius.min() > 300.0 - 0.03
    assert len(poly) < 2000


def test_pixel_centres_and_windows():
    rect = make_shape(polygon_points([(2, 1), (12, 1), (12, 6), (2, 6)]))
    alpha = rasterize_shape(rect, 1, (0, 0, 16, 8))
    expected = np.zeros((8, 16), np.float32)
    expected[1:6, 2:12] = 1.0
    np.testing.assert_array_equal(alpha, expected)
    # A data window offset inside the display window sees the same pixels, shifted.
    np.testing.assert_array_equal(rasterize_shape(rect, 1, (3, 2, 10, 5)), expected[2:7, 3:13])
    spec = ImageSpec(width=10, height=5, channels=("R",), x=103, y=52, full_x=100, full_y=50,
                     full_width=16, full_height=8)
    np.testing.assert_array_equal(rasterize_shapes([rect], 1, spec), expected[2:7, 3:13])


def test_window_crop_is_consistent_for_feathered_shapes():
    shape = make_shape(circle_points(30.0, 25.0, 18.0), feather=6.0)
    full = rasterize_shape(shape, 1, (0, 0, 64, 56))
    part = rasterize_shape(shape, 1, (20, 10, 40, 30))
    np.testing.assert_allclose(part, full[10:40, 20:60], atol=0.02)


def edge_profile(alpha: np.ndarray, row: int, x_edge: float, columns) -> np.ndarray:
    """Signed distances of pixel centres on ``row`` to a vertical edge at ``x_edge`` (positive right)."""
    return np.array([c + 0.5 - x_edge for c in columns]), alpha[row, list(columns)]


def test_positive_feather_ramps_outward():
    width = 10.0
    rect = make_shape(polygon_points([(20.3, 10), (60.3, 10), (60.3, 70), (20.3, 70)]), feather=width)
    alpha = rasterize_shape(rect, 1, (0, 0, 90, 80))
    dist, values = edge_profile(alpha, 40, 60.3, range(50, 80))
    ideal = np.clip(1 - dist / width, 0, 1)
    assert np.abs(values - ideal).max() < 0.05
    assert np.all(np.diff(values) <= 1e-6)
    assert alpha[40, 30:55].min() == 1.0 and alpha[40, 72:].max() == 0.0


def test_negative_feather_ramps_inward():
    width = -8.0
    rect = make_shape(polygon_points([(20.3, 10), (60.3, 10), (60.3, 70), (20.3, 70)]), feather=width)
    alpha = rasterize_shape(rect, 1, (0, 0, 90, 80))
    dist, values = edge_profile(alpha, 40, 60.3, range(45, 70))
    ideal = np.clip(-dist / abs(width), 0, 1)
    assert np.abs(values - ideal).max() < 0.06
    assert alpha[40, 62:].max() == 0.0 and alpha[40, 30:50].min() == 1.0


def test_feather_falloff_exponent_bends_the_ramp():
    coords = [(20.3, 10), (60.3, 10), (60.3, 70), (20.3, 70)]
    linear = rasterize_shape(make_shape(polygon_points(coords), feather=12.0), 1, (0, 0, 90, 80))
    steep = rasterize_shape(make_shape(polygon_points(coords), feather=12.0, feather_falloff=2.0),
                            1, (0, 0, 90, 80))
    ramp = (linear[40, 61:72] > 0) & (linear[40, 61:72] < 1)
    np.testing.assert_allclose(steep[40, 61:72][ramp], linear[40, 61:72][ramp] ** 2, rtol=1e-5)
    assert steep[40, 66] < linear[40, 66] - 0.1


def test_per_vertex_feather_varies_along_the_outline():
    # Right-hand vertices carry 12 px of feather, left-hand ones none.
    coords = [(20.3, 10), (60.3, 10), (60.3, 70), (20.3, 70)]
    rect = make_shape(polygon_points(coords, feathers=[0.0, 12.0, 12.0, 0.0]))
    alpha = rasterize_shape(rect, 1, (0, 0, 90, 80))
    assert alpha[40, 66] == pytest.approx(1 - (66.5 - 60.3) / 12, abs=0.05)  # soft right edge
    assert alpha[40, 18] == 0.0 and alpha[40, 21] == 1.0  # hard left edge
    # Along the top edge the width grows from left to right.
    top = alpha[6, 22:58]
    assert top[0] == 0.0 and top[-1] > 0.5 and np.all(np.diff(top) >= -1e-6)


def test_shape_covering_the_whole_window_with_feather():
    big = make_shape(polygon_points([(-500, -500), (600, -500), (600, 600), (-500, 600)]), feather=5.0)
    np.testing.assert_array_equal(rasterize_shape(big, 1, (0, 0, 32, 24)), np.ones((24, 32), np.float32))
    outside = make_shape(polygon_points([(100, 100), (120, 100), (120, 120)]), feather=5.0)
    assert rasterize_shape(outside, 1, (0, 0, 32, 24)).max() == 0.0


def test_opacity_and_invert():
    coords = [(4, 4), (12, 4), (12, 12), (4, 12)]
    half = make_shape(polygon_points(coords), opacity=0.5)
    assert rasterize_shape(half, 1, (0, 0, 16, 16))[8, 8] == pytest.approx(0.5)
    inverted = make_shape(polygon_points(coords), opacity=0.5, invert=True)
    alpha = rasterize_shape(inverted, 1, (0, 0, 16, 16))
    assert alpha[8, 8] == 0.0 and alpha[0, 0] == pytest.approx(0.5) and alpha[15, 15] == pytest.approx(0.5)
    np.testing.assert_allclose(rasterize_shapes([inverted], 1, (0, 0, 16, 16)), alpha)


def test_add_and_subtract_combine_in_order():
    left = make_shape(polygon_points([(0, 0), (10, 0), (10, 8), (0, 8)]), name="left")
    right = make_shape(polygon_points([(6, 0), (16, 0), (16, 8), (6, 8)]), name="right")
    hole = make_shape(polygon_points([(4, 2), (12, 2), (12, 6), (4, 6)]), name="hole", mode="subtract")
    union = rasterize_shapes([left, right], 1, (0, 0, 16, 8))
    np.testing.assert_array_equal(union, np.ones((8, 16), np.float32))
    cut = rasterize_shapes([left, right, hole], 1, (0, 0, 16, 8))
    assert cut[4, 8] == 0.0 and cut[0, 8] == 1.0 and cut[4, 1] == 1.0
    # Order matters: a subtract before anything was added removes nothing later added.
    np.testing.assert_array_equal(rasterize_shapes([hole, left, right], 1, (0, 0, 16, 8)), union)
    # Partial alphas combine as alpha-over, never above 1.
    soft = [make_shape(polygon_points([(0, 0), (16, 0), (16, 8), (0, 8)]), name=f"h{i}", opacity=0.5)
            for i in range(2)]
    np.testing.assert_allclose(rasterize_shapes(soft, 1, (0, 0, 16, 8)), 0.75)


def test_subtract_is_nukes_minus_on_soft_alphas():
    """Nuke's Roto minus takes the shape's alpha from what lies below: r - a, not r * (1 - a)."""
    window = (0, 0, 16, 8)
    base = make_shape(polygon_points([(0, 0), (16, 0), (16, 8), (0, 8)]), name="base", opacity=0.5)
    cut = make_shape(polygon_points([(0, 0), (8, 0), (8, 8), (0, 8)]), name="cut", opacity=0.5,
                     mode="subtract")
    alpha = rasterize_shapes([base, cut], 1, window)
    assert alpha[4, 2] == 0.0, "0.5 - 0.5: the half-opaque hole empties the half-opaque base"
    assert alpha[4, 12] == pytest.approx(0.5)
    # Where nothing lay below, a minus leaves the running alpha below 0, and a shape drawn over
    # that starts from there (a + r(1 - a) with r = -0.5); only the result is clamped.
    over = make_shape(polygon_points([(0, 0), (16, 0), (16, 8), (0, 8)]), name="over", opacity=0.5)
    alpha = rasterize_shapes([cut, over], 1, window)
    assert alpha[4, 2] == pytest.approx(0.25) and alpha[4, 12] == pytest.approx(0.5)
    assert rasterize_shapes([cut], 1, window).min() == 0.0, "clamped to [0, 1]"


def test_inverted_subtract_keeps_only_the_inside():
    full = make_shape(polygon_points([(0, 0), (32, 0), (32, 32), (0, 32)]), name="full")
    keep = make_shape(polygon_points([(8, 8), (16, 8), (16, 16), (8, 16)]), name="keep",
                      mode="subtract", invert=True)
    alpha = rasterize_shapes([full, keep], 1, (0, 0, 32, 32))
    expected = np.zeros((32, 32), np.float32)
    expected[8:16, 8:16] = 1.0
    np.testing.assert_array_equal(alpha, expected)


def test_role_filter():
    remove = make_shape(polygon_points([(0, 0), (8, 0), (8, 8), (0, 8)]), name="r", role="remove")
    affected = make_shape(polygon_points([(8, 0), (16, 0), (16, 8), (8, 8)]), name="a", role="affected")
    shapes = [remove, affected]
    assert rasterize_shapes(shapes, 1, (0, 0, 16, 8), role="remove")[:, 8:].max() == 0.0
    assert rasterize_shapes(shapes, 1, (0, 0, 16, 8), role="affected")[:, :8].max() == 0.0
    assert rasterize_shapes(shapes, 1, (0, 0, 16, 8)).min() == 1.0


def test_animation_and_lifetime():
    k1 = ShapeKey(1001, polygon_points([(0, 0), (4, 0), (4, 4), (0, 4)]))
    k2 = ShapeKey(1011, polygon_points([(20, 0), (24, 0), (24, 4), (20, 4)]))
    moving = Shape("m", "remove", (k1, k2))
    window = (0, 0, 32, 8)

    def centre_x(frame):
        alpha = rasterize_shape(moving, frame, window)
        return float((alpha.sum(axis=0) * (np.arange(32) + 0.5)).sum() / alpha.sum())

    assert centre_x(1001) == pytest.approx(2.0)
    assert centre_x(1006) == pytest.approx(12.0)
    assert centre_x(990) == pytest.approx(2.0)  # held before the first key
    assert centre_x(1015) == pytest.approx(22.0)  # held after the last key
    living = Shape("l", "remove", (k1, k2), lifetime=(1001, 1020))
    assert rasterize_shape(living, 1020, window).max() == 1.0
    assert rasterize_shape(living, 1021, window).max() == 0.0
    assert rasterize_shapes([living], 1000, window).max() == 0.0
    inverted = Shape("i", "remove", (k1,), invert=True, lifetime=(1001, 1001))
    assert rasterize_shapes([inverted], 1002, window).max() == 0.0


def test_rejects_empty_window():
    shape = make_shape(polygon_points([(0, 0), (4, 0), (4, 4)]))
    with pytest.raises(ValueError, match="empty"):
        rasterize_shape(shape, 1, (0, 0, 0, 10))
