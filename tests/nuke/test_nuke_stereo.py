"""Stereo scripts: the node sends one view (its own knob, the main view by default) and says which."""
from __future__ import annotations

from pathlib import Path

import pytest

import nuke
from nuke_scene import FakeClient, finish, plate_read, void_scene, write_plate
from void_nuke.errors import ShotError
from void_nuke.nuke import jobs
from void_nuke.nuke.node import create_void_node, inside
from void_nuke.nuke.snapshot import take

STEREO = "left #ff0000\nright #00ff00"


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    nuke.root()["views"].setValue(STEREO)
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1003)
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    return {"read": read, "roto": roto, "group": group, "tmp": tmp_path}


def test_the_node_sends_the_main_view_by_default_and_renders_only_that_view(scene: dict) -> None:
    group = scene["group"]
    assert nuke.views() == ["left", "right"] and group["view"].value() == "left"
    grade = nuke.nodes.Grade()
    grade.setInput(0, scene["read"])
    group.setInput(0, grade)
    snap = take(group)
    assert snap.shot.view == "left"
    (run,) = nuke._executed
    assert run["views"] == ["left"] and run["knobs"]["views"] == "left", "not a multi-view file of both eyes"

    group["view"].setValue("right")
    assert take(group).shot.view == "right" and nuke._executed[-1]["views"] == ["right"]


def test_per_view_plate_files_are_sent_as_they_are_and_a_file_of_every_view_is_rendered(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    for view in ("left", "right"):
        write_plate(str(tmp / "stereo"), 1001, 1003, name=f"plate_{view}")
    group.setInput(0, plate_read(str(tmp / "stereo" / "plate_%V.####.exr"), 1001, 1003))
    group["view"].setValue("right")
    shot = take(group).shot
    assert shot.plate_sequence.path(1002) == str(tmp / "stereo" / "plate_right.1002.exr")
    assert nuke._executed == []

    group.setInput(0, scene["read"])  # one file for every view: Nuke picks the view, so it is rendered
    shot = take(group).shot
    assert nuke._executed[-1]["views"] == ["right"] and "_export" in shot.plate


def test_the_result_replaces_only_its_view(scene: dict) -> None:
    group, plate = scene["group"], scene["read"]
    job = finish(jobs.send(group))
    assert job.info.view == "left"
    result = inside(group, "Result_v001")
    assert nuke._shows(group, 1002, "left") is result
    assert nuke._shows(group, 1002, "right") is plate, "the other eye shows the Source"


def test_a_view_the_script_no_longer_has_is_an_error_until_the_panel_refreshes_it(scene: dict) -> None:
    group = scene["group"]
    nuke.root()["views"].setValue("cam_a\ncam_b")
    with pytest.raises(ShotError, match="view 'left', which this script does not have .*cam_a, cam_b"):
        take(group)
    group.showControlPanel()
    assert group["view"].values() == ["cam_a", "cam_b"] and take(group).shot.view == "cam_a"


def test_a_single_view_script_sends_no_view(tmp_path: Path) -> None:
    group = void_scene(str(tmp_path), 1001, 1002)[3]
    assert nuke.views() == ["main"] and take(group).shot.view == ""
    assert create_void_node("VOID9")["view"].values() == ["main"]
