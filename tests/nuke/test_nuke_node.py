"""The VOID Group: knobs, internal graph, guarded callbacks, migration, start-up files."""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

import nuke
from void_nuke.nuke import actions, node as void_node
from void_nuke.shot import DEFAULT_COLORSPACE

REPO = Path(__file__).resolve().parents[2]


def test_create_void_node_has_every_knob_inputs_and_output() -> None:
    plate = nuke.nodes.Constant()
    plate.setSelected(True)
    group = void_node.create_void_node()

    assert group.Class() == "Group" and group.input(0) is plate, "a new node connects to the selection"
    for name, _ in void_node.knob_layout():
        assert group.knob(name) is not None, name
    assert group["engine"].values() == ["classic", "void"]
    assert group[void_node.VERSION_KNOB].value() == void_node.NODE_VERSION
    assert not group[void_node.VERSION_KNOB].visible() and not group[void_node.JOB_KNOB].visible()
    with group:
        inputs = {n.name(): n["number"].value() for n in nuke.allNodes("Input")}
        switch = nuke.toNode(void_node.SWITCH)
        output = nuke.toNode("Output")
    assert inputs == {"Source": 0, "Remove": 1, "Affected": 2}
    assert output.input(0) is switch and switch["which"].hasExpression()
    assert switch.input(0).name() == "Source", "with no result yet the node passes Source through"


def test_the_colour_space_defaults_to_the_scripts_working_space() -> None:
    assert void_node.create_void_node()["colorspace"].value() == DEFAULT_COLORSPACE, "Nuke's 'linear'"
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["workingSpaceLUT"].setValue("ACES - ACEScg")
    assert void_node.create_void_node()["colorspace"].value() == "ACES - ACEScg"


def test_buttons_call_the_package_through_a_guard() -> None:
    group = void_node.create_void_node()
    for name in ("send", "cancel", "preview_mask", "add_positive", "clear_points", "reload"):
        script = group[name].value()
        assert "except ImportError" in script and f"on_button(nuke.thisNode(), {name!r})" in script
    assert "on_create(nuke.thisNode())" in group["onCreate"].value()
    assert "on_knob_changed" in group["knobChanged"].value()


def test_a_button_on_a_machine_without_the_package_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    group = void_node.create_void_node()
    monkeypatch.setitem(sys.modules, "void_nuke.nuke.actions", None)  # makes the import fail
    group["send"].execute()
    assert nuke._messages and "NUKE_PATH" in nuke._messages[-1]


def test_a_button_runs_its_action_and_a_fixable_problem_becomes_a_message() -> None:
    group = void_node.create_void_node()
    group["use_selected_roto"].execute()
    assert "select one or more Roto" in nuke._messages[-1]
    roto = nuke.nodes.Roto()
    roto.setSelected(True)
    group["use_selected_roto"].execute()
    assert group["roto_nodes"].value() == roto.fullName()


def test_migrate_adds_knobs_of_newer_layouts_and_leaves_newer_nodes_alone() -> None:
    group = void_node.create_void_node()
    group.removeKnob(group["seed"])
    group.removeKnob(group["stale"])
    group[void_node.VERSION_KNOB].setValue(0)
    report = void_node.migrate(group)
    assert set(report["added"]) == {"seed", "stale"} and report["to"] == void_node.NODE_VERSION
    assert group["seed"].value() == 42 and group[void_node.VERSION_KNOB].value() == void_node.NODE_VERSION

    group[void_node.VERSION_KNOB].setValue(void_node.NODE_VERSION + 1)
    group.removeKnob(group["seed"])
    report = void_node.migrate(group)
    assert report["added"] == [] and "newer void-nuke" in report["message"]
    assert group.knob("seed") is None


def test_on_create_migrates_through_the_onCreate_script() -> None:
    group = void_node.create_void_node()
    group.removeKnob(group["steps"])
    group[void_node.VERSION_KNOB].setValue(0)
    nuke._this_node.append(group)
    try:
        exec(group["onCreate"].value(), {"nuke": nuke})
    finally:
        nuke._this_node.pop()
    assert group["steps"].value() == 50


def test_menu_py_installs_menus_and_panel_without_contacting_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import nukescripts

    monkeypatch.setattr("void_nuke.nuke.jobs.client_factory", lambda s: pytest.fail("contacted a server"))
    runpy.run_path(str(REPO / "gizmos" / "menu.py"))
    void_menu = nuke.menu("Nodes").findItem("VOID")
    assert void_menu.findItem("VOID") is void_node.create_void_node
    assert void_menu.findItem("Submit selected to farm...") is not None
    assert actions.on_script_load in nuke._script_load_callbacks
    widget, name, panel_id = nukescripts.panels._registered[-1]
    from void_nuke.nuke.panel_widget import VoidPanel
    assert eval(widget) is VoidPanel and name == "VOID"


def test_menu_py_survives_a_broken_install(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "void_nuke.nuke.actions", None)
    runpy.run_path(str(REPO / "gizmos" / "menu.py"))
    assert "Traceback" in capsys.readouterr().err


def test_init_py_adds_the_package_and_dependency_folders(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("VOID_NUKE_SITE", str(tmp_path))
    from void_nuke.nuke.install import site_dir
    Path(site_dir()).mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(REPO)])
    runpy.run_path(str(REPO / "gizmos" / "init.py"))
    assert str(REPO) in sys.path and site_dir() in sys.path
