"""Each matte input goes as Roto shapes when they are exactly what Nuke draws, else rendered through Nuke."""
from __future__ import annotations

from pathlib import Path

import pytest

import nuke
import nuke.rotopaint as rp
from nuke_scene import roto_node, square, void_scene
from void_nuke.nuke import jobs, mattes
from void_nuke.nuke.snapshot import take
from void_nuke.sequences import FrameRange

FRAMES = FrameRange(1001, 1003)


@pytest.fixture()
def scene(tmp_path: Path) -> dict:
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1003)
    return {"read": read, "roto": roto, "group": group, "tmp": tmp_path}


def _choice(group: object, role: str = "remove") -> mattes.MatteChoice:
    index = 1 if role == "remove" else 2
    return mattes.choose(group, role, role.capitalize(), index, FRAMES, (64, 32), "default")


def test_a_roto_on_the_remove_input_goes_as_shapes_found_through_the_graph(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    roto.setName("Anything")  # found by the wire, not by name
    dot = nuke.nodes.Dot()
    dot.setInput(0, roto)
    group.setInput(1, dot)
    choice = _choice(group)
    assert choice.kind == "shapes" and choice.notes == []
    assert [s.name for s in choice.shapes] == ["Anything/Bezier1"] and choice.shapes[0].role == "remove"
    snap = take(group)
    assert snap.shot.remove == () and [s.name for s in snap.shot.shapes] == ["Anything/Bezier1"]
    assert nuke._executed == [], "nothing rendered: the plate is a direct EXR Read, the matte is shapes"


@pytest.mark.parametrize("between, reason", [
    ("Transform", "Transform1 (Transform) sits between Roto1 and the Remove input"),
    ("TimeOffset", "TimeOffset1 (TimeOffset) sits between Roto1 and the Remove input"),
    ("Blur", "Blur1 (Blur) sits between Roto1 and the Remove input"),
])
def test_a_node_after_the_roto_makes_the_input_render_with_the_reason(scene: dict, between: str,
                                                                      reason: str) -> None:
    group, roto = scene["group"], scene["roto"]
    node = getattr(nuke.nodes, between)()
    node.setInput(0, roto)
    group.setInput(1, node)
    choice = _choice(group)
    assert choice.kind == "render" and choice.shapes == ()
    assert choice.notes == [f"Remove rendered through Nuke: {reason}"]
    snap = take(group)
    assert snap.shot.shapes == () and len(snap.shot.remove) == 1 and reason in " ".join(snap.notes)
    assert [r["knobs"]["channels"] for r in nuke._executed] == ["alpha"], "its alpha, through a temporary Write"


def test_disabled_nodes_pass_through_and_a_disabled_roto_is_skipped(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    grade = nuke.nodes.Grade(disable=True)
    grade.setInput(0, roto)
    group.setInput(1, grade)
    assert _choice(group).kind == "shapes"
    off = roto_node(64, 32)
    off["curves"].rootLayer.append(square("Ignored", 40, 1, 60, 30))
    off["disable"].setValue(True)
    off.setInput(0, roto)
    group.setInput(1, off)
    assert [s.name for s in _choice(group).shapes] == ["Roto1/Bezier1"]


def test_a_stack_of_rotos_goes_bottom_first_and_a_bg_with_alpha_renders(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    top = roto_node(64, 32)
    top["curves"].rootLayer.append(square("Top", 40, 1, 60, 30))
    top.setInput(0, roto)
    group.setInput(1, top)
    assert [s.name for s in _choice(group).shapes] == ["Roto1/Bezier1", "Roto2/Top"], "Roto2 draws over Roto1"

    plain = nuke.nodes.Constant(channels="rgb")  # a background without alpha adds nothing to the matte
    roto.setInput(0, plain)
    assert _choice(group).kind == "shapes"
    roto.setInput(0, scene["read"])  # the plate Read: its EXRs carry an alpha channel
    choice = _choice(group)
    assert choice.kind == "render" and "Roto1's bg input Read1 carries an alpha channel" in choice.notes[0]


def test_what_the_roto_itself_cannot_say_makes_auto_render(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    roto["curves"].rootLayer[0].getAttributes().set("mbo", 1)
    choice = _choice(group)
    assert choice.kind == "render" and "shape Bezier1 has motion blur" in choice.notes[0]


def test_each_input_has_a_mode(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    transform = nuke.nodes.Transform()
    transform.setInput(0, roto)
    group.setInput(1, transform)
    group["remove_mode"].setValue("shapes")
    choice = _choice(group)
    assert choice.kind == "shapes" and [s.name for s in choice.shapes] == ["Roto1/Bezier1"]
    assert choice.notes == ["Remove sent as shapes without: Transform1 (Transform) sits between Roto1 and "
                            "the Remove input"]
    group.setInput(1, roto)
    group["remove_mode"].setValue("render")
    assert _choice(group).kind == "render" and _choice(group).notes == []


def test_a_plain_matte_renders_and_an_unconnected_input_sends_nothing(scene: dict) -> None:
    group = scene["group"]
    group.setInput(2, nuke.nodes.Constant(channels="rgba"))
    assert _choice(group, "affected").kind == "render" and _choice(group, "affected").notes == []
    group.setInput(2, None)
    assert _choice(group, "affected").kind == "none"


def test_the_same_roto_on_both_inputs_gives_shapes_of_both_roles(scene: dict) -> None:
    group, roto = scene["group"], scene["roto"]
    group.setInput(2, roto)
    shapes = take(group).shot.shapes
    assert [(s.name, s.role) for s in shapes] == [("Roto1/Bezier1", "remove"),
                                                 ("Roto1/Bezier1 (affected)", "affected")]


def test_the_status_says_why_an_input_was_rendered(scene: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from nuke_scene import FakeClient, finish

    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    group, roto = scene["group"], scene["roto"]
    stroke = rp.Stroke(None, (1, 1), (5, 5), (9, 1), name="Brush1")
    roto["curves"].rootLayer.append(stroke)
    job = jobs.send(group)
    assert "Remove rendered through Nuke: paint stroke Brush1" in job.info.message
    finish(job)


@pytest.mark.server
def test_a_minus_shape_cuts_a_hole_in_the_rendered_quadmask(scene: dict) -> None:
    """Through the server's rasteriser and quadmask: the hole is in the matte VOID gets."""
    from void_nuke.exrio import ImageSpec
    from void_nuke.shot import MaskSettings
    from void_server.quadmask import REMOVE, KEEP, build_quadmask
    from void_server.raster import rasterize_shapes

    group, roto = scene["group"], scene["roto"]
    hole = square("Hole", 15, 12, 25, 18)
    hole.getAttributes().set("bm", 12)  # minus, listed first: drawn on top of Bezier1
    roto["curves"].rootLayer.insert(0, hole)
    shot = take(group).shot
    alpha = rasterize_shapes(shot.shapes, 1002, ImageSpec(64, 32, 4), role="remove")
    q = build_quadmask([alpha], [], MaskSettings(), first_frame=False)
    y_top = lambda y: 32 - y - 1  # noqa: E731  (a Nuke row to a top-left row)
    assert q[y_top(15), 20] == KEEP, "inside the minus shape: cut out"
    assert q[y_top(11), 12] == REMOVE and q[y_top(15), 28] == REMOVE, "the rest of the square is removed"
    assert q[y_top(25), 50] == KEEP
