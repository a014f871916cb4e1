"""Snapshot and export: the temporary Write's knobs, cleanup, direct EXR Reads, knobs into a Shot."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import nuke
from nuke_scene import void_scene
from void_nuke.errors import Cancelled, ImageError, ShotError
from void_nuke.exrio import read_spec
from void_nuke.nuke import points
from void_nuke.nuke.export import EXR_COMPRESSION, EXR_DATATYPE, render, unmodified_exr_read
from void_nuke.nuke.snapshot import EXPORT_FOLDER, take
from void_nuke.sequences import FrameRange, SequencePattern


@pytest.fixture()
def scene(tmp_path: Path) -> dict:
    """A 64x32 plate 1001-1005 on disk, its Read, a Roto with one remove shape, a VOID node."""
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1005)
    return {"pattern": pattern, "read": read, "roto": roto, "group": group, "tmp": tmp_path}


def _temporary_nodes(group: object) -> list:
    with group:
        return [n for n in nuke.allNodes() if n.Class() in ("Write", "Crop")]


def test_an_unmodified_exr_read_is_sent_as_it_is(scene: dict) -> None:
    snap = take(scene["group"])
    assert snap.shot.plate_sequence.path(1001) == SequencePattern(scene["pattern"]).path(1001)
    assert nuke._executed == []
    assert snap.shot.frames == FrameRange(1001, 1005) and snap.shot.output_name == "plate"
    assert [s.role for s in snap.shot.shapes] == ["remove"]
    assert snap.job_id.startswith("plate-") and len(snap.state_hash) == 64


def test_a_graded_source_is_rendered_through_a_temporary_write(scene: dict) -> None:
    group = scene["group"]
    grade = nuke.nodes.Grade(white=2.0)
    grade.setInput(0, scene["read"])
    group.setInput(0, grade)
    group["handle_head"].setValue(1)
    group["frames"].setValue("1002-1004")
    snap = take(group)

    (run,) = nuke._executed
    knobs = run["knobs"]
    assert (run["first"], run["last"]) == (1001, 1004), "handles are exported too"
    assert knobs["file_type"] == "exr" and knobs["datatype"] == EXR_DATATYPE
    assert knobs["compression"] == EXR_COMPRESSION and knobs["raw"] is True
    assert knobs["create_directories"] is True and knobs["channels"] == "rgba"
    expected = os.path.join(str(scene["tmp"] / "out"), EXPORT_FOLDER, snap.job_id, "plate.####.exr")
    assert snap.shot.plate == expected and SequencePattern(knobs["file"]).path(1001) == \
        SequencePattern(expected).path(1001)
    spec = read_spec(snap.shot.plate_sequence.path(1001))
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, 64, 32), "data window = format"
    assert _temporary_nodes(group) == [], "the Write and Crop are deleted"


def test_mattes_are_exported_as_alpha_and_named_by_role(scene: dict) -> None:
    group = scene["group"]
    matte = nuke.nodes.Constant()
    group.setInput(1, matte)
    snap = take(group)
    (remove,) = snap.shot.remove
    assert remove.channel == "A" and remove.pattern.endswith(os.path.join(snap.job_id, "remove.####.exr"))
    assert snap.shot.affected == () and [r["knobs"]["channels"] for r in nuke._executed] == ["alpha"]
    assert read_spec(remove.pattern.replace("####", "1003")).channels == ("A",)


def test_a_failed_render_still_deletes_the_temporary_nodes(scene: dict) -> None:
    group = scene["group"]
    group.setInput(1, nuke.nodes.Constant())
    nuke._execute_error = "Write1: disk full"
    with pytest.raises(ImageError, match="could not render the Remove input.*disk full"):
        take(group)
    assert _temporary_nodes(group) == []
    nuke._execute_error = None
    nuke._execute_cancel = True  # Nuke raises nuke.CancelledError, which is not a RuntimeError
    with pytest.raises(Cancelled, match="export of Remove was cancelled"):
        take(group)
    assert _temporary_nodes(group) == []


def test_render_never_overwrites_existing_frames(scene: dict) -> None:
    target = os.path.join(str(scene["tmp"]), "plates", "plate.####.exr")
    with pytest.raises(ImageError, match="never overwrite"):
        render(scene["group"], "Source", "rgba", target, FrameRange(1001, 1002), (64, 32))
    assert nuke._executed == []


@pytest.mark.parametrize("change, direct", [
    (lambda r: None, True),
    (lambda r: r["frame"].setValue("5"), False),
    (lambda r: r["premultiplied"].setValue(True), False),
    (lambda r: (r["raw"].setValue(False), r["colorspace"].setValue("default (linear)")), True),
    (lambda r: (r["raw"].setValue(False), r["colorspace"].setValue("sRGB")), False),
    (lambda r: r["last"].setValue(1003), False),
    (lambda r: r["file"].setValue(r["file"].getText().replace("plate.", "[value missing.knob].")), False),
    (lambda r: r["file"].setValue(r["file"].getText().replace(".exr", ".dpx")), False),
])
def test_what_counts_as_an_unmodified_exr_read(scene: dict, change: object, direct: bool) -> None:
    read = scene["read"]
    change(read)  # type: ignore[operator]
    found = unmodified_exr_read(read, FrameRange(1001, 1005))
    assert (found == read["file"].getEvaluatedValue()) if direct else found is None


def test_missing_plate_frames_mean_the_source_is_rendered(scene: dict) -> None:
    os.remove(scene["pattern"].replace("####", "1004"))
    assert unmodified_exr_read(scene["read"], FrameRange(1001, 1005)) is None


def test_knobs_points_and_defaults_become_the_shot(scene: dict) -> None:
    group = scene["group"]
    assert take(group).shot.output.grain is True, "grain is matched unless the compositor turns it off"
    group.setInput(1, None)
    for knob, value in (("prompt", "  An empty street.  "), ("engine", "void"), ("passes", "2"), ("steps", 30),
                        ("seed", 7), ("guidance", 6.0), ("roi", "full"), ("colorspace", "ACEScg"),
                        ("handle_tail", 2), ("grain", False)):
        group[knob].setValue(value)
    n = points.add_point(group, True, 1002, (64, 32))
    group[f"void_pt{n}"].setValue([40.0, 30.0])
    points.add_point(group, False, 1004, (64, 32))
    shot = take(group).shot
    assert shot.prompt == "An empty street." and shot.colorspace == "ACEScg" and shot.handles == (0, 2)
    assert shot.output.grain is False
    e = shot.engine
    assert (e.name, e.passes, e.steps, e.seed, e.guidance, e.roi) == ("void", 2, 30, 7, 6.0, "full")
    (first, second) = shot.prompts.points
    assert (first.frame, first.x, first.y, first.positive) == (1002, 40.0, 2.0, True), "y flipped: 32 - 30"
    assert (second.frame, second.x, second.y, second.positive) == (1004, 32.0, 16.0, False)


def test_snapshot_errors_name_the_problem(scene: dict) -> None:
    group = scene["group"]
    group.setInput(1, None)
    with pytest.raises(ShotError, match="nothing to remove"):
        take(group)
    group.setInput(1, scene["roto"])
    nuke.root()["proxy"].setValue(True)
    with pytest.raises(ShotError, match="proxy mode off"):
        take(group)
    nuke.root()["proxy"].setValue(False)
    group["output"].setValue("")
    with pytest.raises(ShotError, match="save the script first"):
        take(group)
    nuke.root()["name"].setValue(str(scene["tmp"] / "comp" / "sh010.nk"))
    assert take(group).shot.output.directory == str(scene["tmp"] / "comp" / "void" / group.name())
    group.setInput(0, None)
    with pytest.raises(ShotError, match="Source input"):
        take(group)
    assert nuke._executed == [], "nothing is exported before the shot is known to be valid"
