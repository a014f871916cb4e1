"""Reading Roto/RotoPaint shapes: origin flip, transforms, animation, attributes, roles, read-only."""
from __future__ import annotations

import pytest

import nuke
import nuke.rotopaint as rp
from nuke_scene import roto_node, square
from void_nuke.errors import ShotError
from void_nuke.nuke.roto import (LIFETIME_RANGE, LIFETIME_SINGLE, ROLE_ATTRIBUTE, find_roto_nodes, layer_role,
                                 read_shapes)
from void_nuke.sequences import FrameRange

FRAMES = FrameRange(1001, 1005)


def _points(key):  # (x, y) of each control point
    return [(p.x, p.y) for p in key.points]


def test_a_static_square_is_flipped_to_top_left_and_kept_as_one_key() -> None:
    roto = roto_node(64, 32)
    roto["curves"].rootLayer.append(square("Bezier1", 10, 10, 30, 20))
    (shape,) = read_shapes(roto, FRAMES, (64, 32))
    assert shape.name == f"{roto.name()}/Bezier1" and shape.role == "remove"
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

    (read,) = read_shapes(roto, FrameRange(1, 1), (64, 32))
    point = read.keys[0].points[0]
    # (10, 10) → shape translate (15, 13) → layer scale (30, 26) → flip y: 32 - 26
    assert (point.x, point.y) == (30, 6)
    assert (point.in_x, point.in_y) == (26, 6)      # centre + (-2, 0), through the same chain
    assert (point.out_x, point.out_y) == (30, 4)    # centre + (0, 1): up in Nuke is down here
    assert read.name.endswith("/Layer1/Bezier1")


def test_rotation_about_a_pivot_and_a_projective_extra_matrix() -> None:
    roto = roto_node(100, 100)
    shape = square("Bezier1", 60, 50, 70, 60)
    shape.getTransform().addPivotPointKey(0, 50.0, 50.0)
    shape.getTransform().addRotationKey(0, 90.0)
    roto["curves"].rootLayer.append(shape)
    (read,) = read_shapes(roto, FrameRange(1, 1))
    x, y = read.keys[0].points[0].x, read.keys[0].points[0].y
    assert (round(x, 6), round(y, 6)) == (50, 100 - 60), "(60, 50) turns 90° about (50, 50) to (50, 60)"

    rp_extra = [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2]  # w = 2 cancels the scale of 2
    roto["curves"].rootLayer.getTransform()._set_extra_matrix(rp_extra)
    (read,) = read_shapes(roto, FrameRange(1, 1))
    assert round(read.keys[0].points[0].x, 6) == 50


def test_animation_is_sampled_on_every_frame_and_holds_after_the_last_key() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    shape[0].center.addPositionKey(1001, (10.0, 10.0))
    shape[0].center.addPositionKey(1003, (14.0, 10.0))
    shape.getAttributes().set(1001, rp.AnimAttributes.kOpacityAttribute, 1.0)
    shape.getAttributes().set(1005, rp.AnimAttributes.kOpacityAttribute, 0.5)
    roto["curves"].rootLayer.append(shape)
    (read,) = read_shapes(roto, FRAMES)
    assert [read.at(f).points[0].x for f in FRAMES] == [10, 12, 14, 14, 14]
    assert read.at(1003).opacity == pytest.approx(0.75)
    assert [k.frame for k in read.keys] == [1001, 1002, 1003, 1004, 1005], "opacity changes every frame"


def test_attributes_feather_invert_visibility_and_lifetime() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    attrs = shape.getAttributes()
    attrs.set(attrs.kInvertedAttribute, 1)
    attrs.set(attrs.kFeatherXAttribute, 6.0)
    attrs.set(attrs.kFeatherFallOffAttribute, 2.0)
    attrs.set(1003, attrs.kVisibleAttribute, 0.0)
    attrs.set(attrs.kLifeTimeTypeAttribute, LIFETIME_RANGE)
    attrs.set(attrs.kLifeTimeMAttribute, 1002)
    attrs.set(attrs.kLifeTimeNAttribute, 1004)
    shape[1].featherCenter.addPositionKey(0, (3.0, 4.0))
    roto["curves"].rootLayer.append(shape)
    (read,) = read_shapes(roto, FRAMES)
    assert read.invert and read.feather_falloff == 2.0 and read.lifetime == (1002, 1004)
    assert read.at(1001).feather == 6.0 and read.at(1001).points[1].feather == 5.0
    assert read.at(1003).opacity == 0.0, "a hidden shape has no opacity on that frame"

    attrs.set(attrs.kLifeTimeTypeAttribute, LIFETIME_SINGLE)
    attrs.set(attrs.kLifeTimeMAttribute, 1003)
    assert read_shapes(roto, FRAMES)[0].lifetime == (1003, 1003)


def test_roles_from_layer_names_and_the_custom_attribute() -> None:
    roto = roto_node(64, 32)
    affected = rp.Layer(None, "affected_cup")
    inner = rp.Layer(None, "details")
    inner.append(square("Splash", 1, 1, 5, 5))
    tagged = square("Hand", 10, 10, 20, 20)
    tagged.getAttributes().add(ROLE_ATTRIBUTE, 1)
    affected.append(inner)
    affected.append(tagged)
    roto["curves"].rootLayer.append(affected)
    roto["curves"].rootLayer.append(square("Loose", 30, 10, 40, 20))
    roles = {s.name.split("/")[-1]: s.role for s in read_shapes(roto, FRAMES, default_role="affected")}
    assert roles == {"Splash": "affected", "Hand": "remove", "Loose": "affected"}
    assert [layer_role(n) for n in ("Remove", "remove-boy", "removed", "affected_2", "Layer1")] == \
        ["remove", "remove", None, "affected", None]


def test_strokes_and_degenerate_shapes_are_skipped() -> None:
    roto = roto_node(64, 32, "RotoPaint")
    roto["curves"].rootLayer.append(rp.Stroke(None, (1, 1), (5, 5), (9, 1), name="Brush1"))
    roto["curves"].rootLayer.append(rp.Shape(None, (1, 1), (5, 5), name="Open"))
    roto["curves"].rootLayer.append(square("Bezier1", 10, 10, 30, 20))
    assert [s.name.split("/")[-1] for s in read_shapes(roto, FRAMES)] == ["Bezier1"]


def test_reading_never_changes_the_users_node() -> None:
    roto = roto_node(64, 32)
    shape = square("Bezier1", 10, 10, 30, 20)
    shape[0].center.addPositionKey(1001, (10.0, 10.0))
    shape[0].center.addPositionKey(1004, (20.0, 10.0))
    roto["curves"].rootLayer.append(shape)
    writes, mutations, script = rp._writes, roto._mutations, roto["curves"].toScript()
    read_shapes(roto, FRAMES, (64, 32))
    assert (rp._writes, roto._mutations, roto["curves"].toScript()) == (writes, mutations, script)


def test_format_mismatch_and_wrong_classes_are_errors_that_say_what_to_do() -> None:
    roto = roto_node(64, 32)
    with pytest.raises(ShotError, match="set the Roto node's format"):
        read_shapes(roto, FRAMES, (128, 64))
    grade = nuke.nodes.Grade()
    with pytest.raises(ShotError, match="not Roto or RotoPaint|give Roto"):
        read_shapes(grade, FRAMES)
    with pytest.raises(ShotError, match="no node named 'Nope'"):
        find_roto_nodes(f"{roto.name()}, Nope")
    with pytest.raises(ShotError, match="Grade node, not Roto"):
        find_roto_nodes(grade.name())
    assert find_roto_nodes(f" {roto.name()} ,Nope {grade.name()}", strict=False) == [roto]
