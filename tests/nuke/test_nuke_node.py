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
    assert group["remove_mode"].values() == ["auto", "shapes", "render"] == group["affected_mode"].values()
    assert group["view"].values() == ["main"]
    assert group[void_node.VERSION_KNOB].value() == void_node.NODE_VERSION
    assert len(group[void_node.NODE_ID_KNOB].value()) == 32
    for name in (void_node.VERSION_KNOB, void_node.JOB_KNOB, void_node.NODE_ID_KNOB):
        assert not group[name].visible()
    for name in void_node.PROGRESS_KNOBS:
        assert group[name].getFlag(nuke.NO_RERENDER) and group[name].getFlag(nuke.NO_UNDO), name
    with group:
        inputs = {n.name(): n["number"].value() for n in nuke.allNodes("Input")}
        switch = nuke.toNode(void_node.SWITCH)
        versions = nuke.toNode(void_node.VERSIONS_SWITCH)
        output = nuke.toNode("Output")
    assert inputs == {"Source": 0, "Remove": 1, "Affected": 2}
    assert output.input(0) is switch and switch["which"].hasExpression() and versions["which"].hasExpression()
    assert nuke._shows(group) is plate, "with no result yet the node passes Source through"


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


def test_a_machine_without_the_package_says_what_to_do_once(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    group = void_node.create_void_node()
    monkeypatch.setitem(sys.modules, "void_nuke.nuke.actions", None)  # makes the import fail
    monkeypatch.delattr(nuke, "_void_missing_shown", raising=False)
    group["send"].execute()
    assert len(nuke._messages) == 1 and "NUKE_PATH" in nuke._messages[-1]
    group.showControlPanel()
    for value in ("one", "two", "three"):
        group["prompt"].setValue(value)  # knobChanged runs the guard each time
    group["send"].execute()
    assert len(nuke._messages) == 1, "one dialog a session, not one per callback"
    assert capsys.readouterr().out.count("cannot be imported") >= 5, "every call still says why"


def test_use_selected_roto_connects_what_the_artist_selected_in_the_node_graph() -> None:
    """A button on a Group runs in the Group's context: the selection it must read is the script's."""
    group = void_node.create_void_node()
    group["use_selected_roto"].execute()
    assert "select one Roto or RotoPaint node" in nuke._messages[-1] and "(0 selected)" in nuke._messages[-1]
    roto = nuke.nodes.Roto()
    affected = nuke.nodes.Roto()
    for node in nuke.allNodes():
        node.setSelected(node is roto)
    group["use_selected_roto"].execute()
    assert group.input(1) is roto
    for node in nuke.allNodes():
        node.setSelected(node is affected)
    group["use_selected_affected"].execute()
    assert group.input(2) is affected and group.input(1) is roto

    outer = nuke.nodes.Group(name="Shot")  # a VOID node inside the artist's own Group
    with outer:
        inner_roto = nuke.nodes.Roto()
        inner = void_node.create_void_node("VOID_in")
        for node in nuke.allNodes():
            node.setSelected(node is inner_roto)
    inner["use_selected_roto"].execute()
    assert inner.input(1) is inner_roto


def test_migrate_adds_knobs_of_newer_layouts_and_leaves_newer_nodes_alone() -> None:
    group = void_node.create_void_node()
    group.removeKnob(group["seed"])
    group.removeKnob(group["stale"])
    group.removeKnob(group["grain"])
    group[void_node.VERSION_KNOB].setValue(2)
    report = void_node.migrate(group)
    assert set(report["added"]) == {"seed", "stale", "grain"} and report["to"] == void_node.NODE_VERSION
    assert group["seed"].value() == 42 and group[void_node.VERSION_KNOB].value() == void_node.NODE_VERSION
    assert group["grain"].value() is True, "a layout-2 node matches grain, as it did before the switch"

    group[void_node.VERSION_KNOB].setValue(void_node.NODE_VERSION + 1)
    group.removeKnob(group["seed"])
    report = void_node.migrate(group)
    assert report["added"] == [] and "newer void-nuke" in report["message"]
    assert group.knob("seed") is None


def _layout_1_node(roto_names: str) -> object:
    """A VOID node as the first release saved it: Roto nodes by name, the Show switch wired to the result."""
    group = void_node.create_void_node()
    for name in ("view", "remove_mode", "affected_mode", "use_selected_affected", void_node.NODE_ID_KNOB):
        group.removeKnob(group[name])
    group.addKnob(nuke.String_Knob("roto_nodes", "Roto nodes", roto_names))
    with group:
        nuke.delete(nuke.toNode(void_node.VERSIONS_SWITCH))
        nuke.toNode(void_node.SWITCH).setInput(0, nuke.toNode("Source"))
    group[void_node.VERSION_KNOB].setValue(1)
    return group


def test_a_layout_1_node_gets_its_roto_on_the_remove_input_and_expression_driven_versions() -> None:
    roto = nuke.nodes.Roto(name="RotoHand")
    group = _layout_1_node("RotoHand")
    report = void_node.migrate(group)
    assert group.knob("roto_nodes") is None and group.input(1) is roto
    assert "RotoHand now feeds the Remove input" in report["message"]
    assert {"view", "remove_mode", "affected_mode", void_node.NODE_ID_KNOB} <= set(report["added"])
    with group:
        assert nuke.toNode(void_node.SWITCH).input(0) is nuke.toNode(void_node.VERSIONS_SWITCH)

    nuke.nodes.Roto(name="RotoCup")
    two = _layout_1_node("RotoHand, RotoCup")
    assert "connect them (merged)" in void_node.migrate(two)["message"] and two.input(1) is None


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
    assert (actions.on_update_ui, (), {}, "Group") in nuke._update_ui, "the live stale check"
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
