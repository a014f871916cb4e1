"""Reading Roto/RotoPaint shapes as Nuke draws them: outlines, transforms, attributes, what shapes cannot say."""
from __future__ import annotations

import math

import pytest

import nuke
import nuke.rotopaint as rp
from nuke_scene import roto_node, square
from void_nuke.errors import ShotError
from void_nuke.nuke.roto import read_roto
from void_nuke.roto_curves import LIFETIME_FROM_START, LIFETIME_RANGE, LIFETIME_SINGLE, LIFETIME_TO_END
from void_nuke.sequences import FrameRange

FRAMES = FrameRange(1001, 1005)


def _read(roto, frames=FRAMES, size=(64, 32)):
    return read_roto(roto, frames, "remove", size)


def _points(key):  # (x, y) of each control point
    return [(round(p.x, 6), round(p.y, 6)) for p in key.points]


def test_a_static_square_is_flipped_to_top_left_and_kept_as_one_key() -> None:
    roto = roto_node(64, 32)
    roto["curves"].rootLayer.append(square("Bezier1", 10, 10, 30, 20))
    read = _read(roto)
    (shape,) = read.shapes
    assert read.reasons == ()
    assert shape.name == f"{roto.name()}/Bezier1" and shape.role == "remove" and shape.mode == "add"
    assert [k.frame for k in shape.keys] == [1001, 1005], "identical inner keys are dropped"
    assert _points(shape.at(1003)) == [(10, 22), (30, 22), (30, 12), (10, 12)]
    assert shape.lifetime is None and not shape.invert


def test_shape_and_parent_layer_transforms_apply_inner_first_to_points_and_tangents() -> None:
    roto = roto_node(64, 32)
    layer = rp.Layer(None, "Layer1")
    shape = square("Bezier1", 10, 10, 20, 12)
    shape[0].leftTangent.addPositionKey(0, (-2.0, 0.0))
    shape[0].rightTangent.addPositionKey(0, (0.0, 1.0))
    shape.getTransform().addTranslationKey(0, 5.0, 3.0)
    layer.getTransform().addScaleKey(0, 2.0, 2.0)
    layer.append(shape)
    roto["curves"].rootLayer.append(layer)

    (read,) = _read(roto, FrameRange(1, 1)).shapes
    point = read.keys[0].points[0]
    # (10, 10) -> shape translate (15, 13) -> layer scale (30, 26) -> flip y: 32 - 26
    assert (point.x, point.y) == pytest.approx((30, 6))
    assert (point.in_x, point.in_y) == pytest.approx((26, 6))   # centre + (-2, 0), through the same chain
    assert (point.out_x, point.out_y) == pytest.approx((30, 4))  # centre + (0, 1): up in Nuke is down here
    assert read.name.endswith("/Layer1/Bezier1")


def test_rotation_about_a_pivot_and_a_projective_extra_matrix() -> None:
    roto = roto_node(100, 100)
    shape = square("Bezier1", 60, 50, 70, 60)
    shape.getTransform().addPivotPointKey(0, 50.0, 50.0)
    shape.getTransform().addRotationKey(0, 90.0)
    roto["curves"].rootLayer.append(shape)
    (read,) = _read(roto, FrameRange(1, 1), (100, 100)).shapes
    assert _points(read.keys[0])[0] == (50, 100 - 60), "(60, 50) turns 90 degrees about (50, 50) to (50, 60)"

    # A corner pin's w varies across the shape: a straight edge stays straight, the fit splits no piece
    # it does not need to, and every point lands where the projective map sends it.
    pin = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0.002, 0, 0, 1]
    roto["curves"].rootLayer.getTransform()._set_extra_matrix(pin)
    (read,) = _read(roto, FrameRange(1, 1), (100, 100)).shapes
    for p in read.keys[0].points:
        x, y = p.x, 100 - p.y
        assert abs(x * 0.002 + 1) > 0  # the map is finite here
    first = read.keys[0].points[0]
    w = 0.002 * 50 + 1
    assert (first.x, first.y) == pytest.approx((50 / w, 100 - 60 / w))


def test_b_splines_are_read_from_the_curve_nuke_draws_not_their_control_points() -> None:
    roto = roto_node(64, 64)
    spline = rp.Shape(None, type="bspline", name="Bspline1")
    corners = [(10, 10), (50, 10), (50, 50), (10, 50)]
    for point in corners:
        spline.append(point)
    roto["curves"].rootLayer.append(spline)
    (read,) = _read(roto, FrameRange(1, 1), (64, 64)).shapes
    key = read.keys[0]
    # A uniform cubic B-spline passes through (P[i-1] + 4 P[i] + P[i+1]) / 6, inside the control polygon.
    x = (10 + 4 * 10 + 50) / 6
    y = (50 + 4 * 10 + 10) / 6
    assert (key.points[0].x, key.points[0].y) == pytest.approx((x, 64 - y))
    assert all(10 < p.x < 50 and 10 < 64 - p.y < 50 for p in key.points), "the outline is inside the hull"
    # Each fitted piece is that cubic exactly: its middle is the curve's middle.
    curve = spline.evaluate(0, 1)
    mid = curve.getPoint(0.125)
    a, b = key.points[0], key.points[1]
    bx = 0.125 * a.x + 0.375 * a.out_x + 0.375 * b.in_x + 0.125 * b.x
    by = 0.125 * a.y + 0.375 * a.out_y + 0.375 * b.in_y + 0.125 * b.y
    assert (bx, by) == pytest.approx((mid.x, 64 - mid.y), abs=1e-6)


def test_open_splines_are_left_out_and_named() -> None:
    roto = roto_node(64, 32)
    open_spline = square("Open1", 1, 1, 9, 9)
    open_spline.setFlag(rp.FlagType.eOpenFlag, True)
    roto["curves"].rootLayer.append(open_spline)
    roto["curves"].rootLayer.append(square("Bezier1", 10, 10, 30, 20))
    read = _read(roto)
    assert [s.name.split("/")[-1] for s in read.shapes] == ["Bezier1"], "a 4-point open spline is not filled"
    assert any("open spline Open1" in r for r in read.reasons)


def test_animation_is_sampled_on_every_frame_and_holds_after_the_last_key() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    shape[0].center.addPositionKey(1001, (10.0, 10.0))
    shape[0].center.addPositionKey(1003, (14.0, 10.0))
    shape.getAttributes().set(1001, rp.AnimAttributes.kOpacityAttribute, 1.0)
    shape.getAttributes().set(1005, rp.AnimAttributes.kOpacityAttribute, 0.5)
    roto["curves"].rootLayer.append(shape)
    (read,) = _read(roto).shapes
    assert [round(read.at(f).points[0].x, 6) for f in FRAMES] == [10, 12, 14, 14, 14]
    assert read.at(1003).opacity == pytest.approx(0.75)
    assert [k.frame for k in read.keys] == [1001, 1002, 1003, 1004, 1005], "opacity changes every frame"


def test_feather_invert_visibility_and_falloff() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    attrs = shape.getAttributes()
    attrs.set(attrs.kInvertedAttribute, 1)
    attrs.set(attrs.kFeatherXAttribute, 6.0)
    attrs.set(attrs.kFeatherYAttribute, 6.0)
    attrs.set(attrs.kFeatherFallOffAttribute, 2.0)
    attrs.set(1003, attrs.kVisibleAttribute, 0.0)
    shape[1].featherCenter.addPositionKey(0, (3.0, -4.0))   # (30, 10): out and down, away from the square
    shape[3].featherCenter.addPositionKey(0, (3.0, -4.0))   # (10, 20): into the square
    roto["curves"].rootLayer.append(shape)
    read = _read(roto)
    (s,) = read.shapes
    assert read.reasons == ()
    assert s.invert and s.feather_falloff == 2.0
    key = s.at(1001)
    assert key.feather == 6.0, "fx, equal to fy"
    assert key.points[1].feather == pytest.approx(5.0) and key.points[3].feather == pytest.approx(-5.0), \
        "per-point feather keeps its direction: inward is negative"
    assert s.at(1003).opacity == 0.0, "a hidden shape has no opacity on that frame"

    attrs.set(attrs.kFeatherOnAttribute, 0.0)
    key = _read(roto).shapes[0].at(1001)
    assert key.feather == 0.0 and all(p.feather == 0.0 for p in key.points), "feather off turns both off"


@pytest.mark.parametrize("kind, n, m, expected", [
    (0, 1, 1, None),
    (LIFETIME_SINGLE, 1003, 1, (1003, 1003)),
    (LIFETIME_FROM_START, 1, 1003, (1001, 1003)),
    (LIFETIME_TO_END, 1002, 1, (1002, 1005)),
    (LIFETIME_RANGE, 1002, 1004, (1002, 1004)),
])
def test_lifetime_follows_foundrys_frame_range_types(kind: int, n: int, m: int, expected: object) -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    attrs = shape.getAttributes()
    assert (attrs.getValue(0, "ltn"), attrs.getValue(0, "ltm"), attrs.getValue(0, "ltt")) == (1, 1, 0), \
        "Nuke's defaults"
    attrs.set(attrs.kLifeTimeTypeAttribute, kind)
    attrs.set(attrs.kLifeTimeNAttribute, n)
    attrs.set(attrs.kLifeTimeMAttribute, m)
    roto["curves"].rootLayer.append(shape)
    assert _read(roto).shapes[0].lifetime == expected


def test_blend_modes_map_where_exact_and_are_named_otherwise() -> None:
    roto = roto_node(64, 32)
    base = square("Base", 0, 0, 60, 30)
    hole = square("Hole", 20, 10, 40, 20)
    hole.getAttributes().set("bm", 12)  # minus
    glow = square("Glow", 1, 1, 5, 5)
    glow.getAttributes().set("bm", 5)  # screen: the same alpha as over
    for element in (hole, glow, base):  # Nuke's list: the first is drawn on top
        roto["curves"].rootLayer.append(element)
    read = _read(roto)
    assert read.reasons == ()
    assert [(s.name.split("/")[-1], s.mode) for s in read.shapes] == \
        [("Base", "add"), ("Glow", "add"), ("Hole", "subtract")], "bottom first, the minus shape last"

    roto["curves"].rootLayer[1].getAttributes().set("bm", 1)  # max: not the same on soft edges
    assert any("Glow uses the max blend mode" in r for r in _read(roto).reasons)

    layer = rp.Layer(None, "Cuts")
    inner = square("Inner", 2, 2, 8, 8)
    inner.getAttributes().set("bm", 12)
    layer.append(inner)
    roto["curves"].rootLayer.append(layer)
    assert any("minus shape Cuts/Inner sits inside a layer" in r for r in _read(roto).reasons)


def test_layer_visibility_hides_its_shapes_and_layer_opacity_is_named() -> None:
    roto = roto_node(64, 32)
    layer = rp.Layer(None, "Layer1")
    layer.append(square("Bezier1", 10, 10, 30, 20))
    for frame, visible in ((1001, True), (1002, False), (1003, True)):
        layer.setVisible(frame, visible)
    roto["curves"].rootLayer.append(layer)
    read = _read(roto)
    (shape,) = read.shapes
    assert read.reasons == ()
    assert shape.at(1001).opacity == 1.0 and shape.at(1002).opacity == 0.0, "hidden on 1002"
    layer.getAttributes().set("opc", 0.5)
    assert any("layer Layer1 has its own opacity" in r for r in _read(roto).reasons)


def test_what_shapes_cannot_say_is_named() -> None:
    roto = roto_node(64, 32, "RotoPaint")
    roto["curves"].rootLayer.append(rp.Stroke(None, (1, 1), (5, 5), (9, 1), name="Brush1"))
    blurred = square("Blurred", 10, 10, 30, 20)
    blurred.getAttributes().set("mbo", 1)
    wide = square("Wide", 10, 10, 30, 20)
    wide.getAttributes().set("fx", 4.0)
    wide.getAttributes().set("fy", 1.0)
    smooth = square("Smooth", 10, 10, 30, 20)
    smooth.getAttributes().set("ft", 1)
    for element in (blurred, wide, smooth):
        roto["curves"].rootLayer.append(element)
    roto["global_motionblur"].setValue(True)
    reasons = " | ".join(_read(roto).reasons)
    for expected in ("paint stroke Brush1", "Blurred has motion blur", "Wide has a different feather in x and y",
                     "Smooth has a non-default feather falloff type", "has global motion blur"):
        assert expected in reasons

    plain = roto_node(64, 32)
    plain["mix"].setValue(0.5)
    plain.setInput(1, nuke.nodes.Constant())
    reasons = " ".join(_read(plain).reasons)
    assert "mix is 0.5" in reasons and "mask or a second background" in reasons
    assert "the plate is 128x64" in " ".join(_read(plain, size=(128, 64)).reasons)


def test_reading_never_changes_the_users_node() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    shape[0].center.addPositionKey(1001, (10.0, 10.0))
    shape[0].center.addPositionKey(1004, (20.0, 10.0))
    roto["curves"].rootLayer.append(shape)
    writes, mutations, script = rp._writes, roto._mutations, roto["curves"].toScript()
    _read(roto)
    assert (rp._writes, roto._mutations, roto["curves"].toScript()) == (writes, mutations, script)


def test_a_circle_keeps_its_curve() -> None:
    """Béziers keep working: a kappa circle comes back as the same four cubic segments."""
    roto = roto_node(100, 100)
    kappa = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0) * 30
    circle = rp.Shape(None, name="Circle")
    for i, (x, y) in enumerate(((80, 50), (50, 80), (20, 50), (50, 20))):
        circle.append((x, y))
        tx, ty = [(0, 1), (-1, 0), (0, -1), (1, 0)][i]
        circle[i].leftTangent.addPositionKey(0, (-tx * kappa, -ty * kappa))
        circle[i].rightTangent.addPositionKey(0, (tx * kappa, ty * kappa))
    roto["curves"].rootLayer.append(circle)
    (shape,) = _read(roto, FrameRange(1, 1), (100, 100)).shapes
    assert len(shape.keys[0].points) == 4, "exact cubics need no extra pieces"
    p = shape.keys[0].points[0]
    assert (p.x, p.y, p.out_x, p.out_y) == pytest.approx((80, 50, 80, 50 - kappa))


def test_wrong_classes_are_errors_that_say_what_to_do() -> None:
    with pytest.raises(ShotError, match="Grade node, not Roto"):
        read_roto(nuke.nodes.Grade(), FRAMES, "remove")
