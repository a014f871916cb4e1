"""File paths as Nuke evaluates them: TCL, the project directory, and result Reads relative to it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import nuke
from nuke_scene import FakeClient, finish, plate_read, void_scene, write_plate
from void_nuke.errors import ShotError
from void_nuke.nuke import jobs
from void_nuke.nuke.node import inside
from void_nuke.nuke.snapshot import take


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1003)
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    nuke.root()["name"].setValue(str(tmp_path / "comp" / "sh010_comp.nk"))
    return {"read": read, "roto": roto, "group": group, "tmp": tmp_path}


def test_a_tcl_output_path_is_evaluated_not_taken_literally(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    group["output"].setValue("[file dirname [value root.name]]/void")
    shot = take(group).shot
    assert shot.output.directory == str(tmp / "comp" / "void")
    assert not (Path.cwd() / "[file dirname [value root.name]]").exists()


def test_a_relative_output_is_under_the_project_directory(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    nuke.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    group["output"].setValue("renders/void")
    assert take(group).shot.output.directory == str(tmp / "comp" / "renders" / "void")


def test_a_relative_plate_read_is_sent_as_it_is(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    nuke.root()["project_directory"].setValue(str(tmp))
    relative = plate_read("plates/plate.####.exr", 1001, 1003)
    group.setInput(0, relative)
    shot = take(group).shot
    assert shot.plate_sequence.path(1002) == str(tmp / "plates" / "plate.1002.exr")
    assert nuke._executed == [], "found through the project directory: nothing re-rendered"


def test_result_reads_are_relative_to_the_project_directory_when_under_it(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    nuke.root()["project_directory"].setValue("[python {nuke.script_directory()}]")
    group["output"].setValue("void")
    finish(jobs.send(group))
    read = inside(group, "Result_v001")
    assert read["file"].getText() == "void/v001/plate.####.exr"
    assert nuke._shows(group, 1002) is read and read["format"].value().width() == 64



def test_a_result_outside_the_project_directory_keeps_an_absolute_path(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    nuke.root()["project_directory"].setValue(str(tmp / "comp"))
    group["output"].setValue(str(tmp / "out"))
    finish(jobs.send(group))
    assert inside(group, "Result_v001")["file"].getText() == os.path.join(str(tmp / "out"), "v001",
                                                                          "plate.####.exr")


def test_a_broken_tcl_path_is_an_error_naming_the_knob(scene: dict) -> None:
    group = scene["group"]
    group["output"].setValue("[value nosuchnode.file]/void")
    with pytest.raises(ShotError, match=r"cannot evaluate VOID1\.output"):
        take(group)


def test_a_plate_name_from_a_tcl_read_path(scene: dict) -> None:
    group, tmp = scene["group"], scene["tmp"]
    write_plate(str(tmp / "comp" / "plates"), 1001, 1003, name="sh010_bg")
    read = plate_read("[file dirname [value root.name]]/plates/sh010_bg.####.exr", 1001, 1003)
    group.setInput(0, read)
    shot = take(group).shot
    assert shot.output_name == "sh010_bg" and shot.plate_sequence.path(1001) == \
        str(tmp / "comp" / "plates" / "sh010_bg.1001.exr")
