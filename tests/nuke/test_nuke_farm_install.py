"""Submit to farm from selected VOID nodes, and the installer for Nuke's Python."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import nuke
from nuke_scene import void_scene
from void_nuke.errors import VoidError
from void_nuke.nuke import actions, install
from void_nuke.nuke.farm import submit_nodes, submit_selected


@pytest.fixture()
def group(tmp_path: Path) -> object:
    return void_scene(str(tmp_path), 1001, 1004)[3]


def test_submit_selected_writes_farm_jobs_for_the_selected_void_nodes(group: object, tmp_path: Path) -> None:
    nuke.Panel._answers = {"farm": "openjd", "job folder": str(tmp_path / "farm")}
    paths = submit_selected()
    assert paths and all(os.path.isfile(p) for p in paths)
    assert all(p.startswith(str(tmp_path / "farm")) for p in paths)
    assert "wrote" in nuke._messages[-1] and "1 node" in nuke._messages[-1]


def test_submit_asks_first_and_does_nothing_on_cancel(group: object, tmp_path: Path) -> None:
    nuke.Panel._answers = None
    assert submit_selected() == []
    assert not (tmp_path / "out" / "farm").exists()


def test_submit_needs_a_selected_void_node_and_reports_farm_errors(group: object, tmp_path: Path) -> None:
    group.setSelected(False)
    with pytest.raises(VoidError, match="select one or more VOID nodes"):
        submit_selected()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old.txt").write_text("x")
    with pytest.raises(VoidError, match="not empty"):
        submit_nodes([group], "openjd", str(tmp_path / "busy"))
    group.setSelected(True)
    nuke.Panel._answers = {"farm": "openjd", "job folder": str(tmp_path / "busy")}
    actions._submit_to_farm()
    assert "not empty" in nuke._messages[-1], "the menu command shows farm errors instead of raising"


def test_site_dir_is_per_python_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOID_NUKE_SITE", str(tmp_path))
    assert install.site_dir((3, 9)) == str(tmp_path / "py39")
    monkeypatch.delenv("VOID_NUKE_SITE")
    assert install.site_dir((3, 11)).endswith(os.path.join(".nuke", "void-nuke", "py311"))


def test_installer_installs_only_what_nukes_python_lacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert install.main(["--dry-run", "--target", str(tmp_path)]) == 0
    assert "Nothing to install" in capsys.readouterr().out
    monkeypatch.setattr(install, "REQUIREMENTS", install.REQUIREMENTS + (("void_absent_mod", "void-absent>=1"),))
    target, missing = install.plan(sys.executable, str(tmp_path))
    assert (target, missing) == (str(tmp_path), ["void-absent>=1"])
    assert install.main(["--dry-run", "--target", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "-m pip install --no-deps --target" in out and out.rstrip().endswith("void-absent>=1")
    assert not any(tmp_path.iterdir()), "a dry run installs nothing"
    (tmp_path / "void_absent_mod.py").write_text("")
    assert install.plan(sys.executable, str(tmp_path))[1] == [], "what the target folder holds counts"
