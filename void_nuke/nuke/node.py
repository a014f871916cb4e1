"""The VOID node: a Group built from Python, its knobs, and its migration.

A Group (not a ``.gizmo``) travels inside the ``.nk``, so a farm machine or a
vendor opens the script with the node intact even where this package is not
installed (docs/nuke.md). It is built here rather than from a hand-edited
``.nk`` so there is one definition to keep up to date.

Inside the Group::

    Result_v001 (Read) ─ Range_v001 (Switch: the Read on its landed frames, Source outside)
    Result_v002 (Read) ─ Range_v002 ...            [Views_vNNN (JoinViews) in a stereo script]
        └──────────── Versions (Switch, which = parent.version) ─┐
    Source ──────────────────────────────────────────────────── Show (Switch, which = parent.show) ─ Output
    Remove, Affected ── used only when exporting mattes

Every choice is an expression, not a connection made by a callback: setting
``version`` or ``show`` from Python, with the panel closed, on the farm,
changes what the node outputs.

Buttons and callbacks run ``void_nuke.nuke.actions`` through a guard that
names the problem when the package is missing on a machine (once a session).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import nuke

from ..shot import DEFAULT_COLORSPACE, ENGINES, ROI_MODES

NODE_VERSION = 3
"""Layout version of the node; ``migrate`` brings older nodes up to it.

1: the first release (Roto nodes by name; the result Read wired by knobChanged).
2: Roto nodes through the graph, per-input modes, views, expression-driven versions, node id.
3: a match-grain switch.
"""

VERSION_KNOB = "void_node_version"
NODE_ID_KNOB = "void_node_id"
JOB_KNOB = "void_job"
VERSIONS_KNOB = "void_versions"
INPUTS = ("Source", "Remove", "Affected")
SWITCH = "Show"
VERSIONS_SWITCH = "Versions"
SHOW_VALUES = ["result", "source"]
NO_VERSION = " "
RESULT_PREFIX = "Result_"
RANGE_PREFIX = "Range_"
VIEWS_PREFIX = "Views_"
MATTE_MODES = ("auto", "shapes", "render")
"""How a Remove/Affected input is sent (``void_nuke.nuke.mattes``)."""
PROGRESS_KNOBS = ("status", "progress", "stale")
"""Knobs a running job or the stale check rewrites: they never re-render or add undo steps."""

RESULT_KNOBS = ("prompt", "frames", "handle_head", "handle_tail", "engine", "passes", "steps", "seed",
                "guidance", "roi", "grain", "colorspace", "view", "remove_mode", "affected_mode")
"""Knobs whose values shape the result: a change makes the shown result stale."""

TILE_COLOURS = {"idle": 0x3A5F8AFF, "running": 0xC08A1EFF, "done": 0x3E8A4AFF, "failed": 0xA33A3AFF,
                "stale": 0x8A6E3EFF}

GUARD = """try:
    import void_nuke.nuke.actions as void_actions
except ImportError as void_error:
    void_missing = ("VOID: the void-nuke package cannot be imported in this Nuke (%s). "
                    "Put its gizmos folder on NUKE_PATH and run its installer; see docs/nuke.md." % void_error)
    print(void_missing)
    if nuke.GUI and not getattr(nuke, "_void_missing_shown", False):
        nuke._void_missing_shown = True
        nuke.message(void_missing)
else:
    void_actions.{call}
"""
"""The knob scripts: the dialog about a missing package opens once a session, however many callbacks
run; every call still prints the reason."""


def guarded(call: str) -> str:
    """Python for a knob script that calls ``void_nuke.nuke.actions.<call>`` safely."""
    return GUARD.replace("{call}", call)


def _button(name: str, label: str, tooltip: str) -> "nuke.Knob":
    knob = nuke.PyScript_Knob(name, label, guarded(f"on_button(nuke.thisNode(), {name!r})"))
    knob.setTooltip(tooltip)
    return knob


def _with_tip(knob: "nuke.Knob", tooltip: str) -> "nuke.Knob":
    knob.setTooltip(tooltip)
    return knob


def _same_line(knob: "nuke.Knob") -> "nuke.Knob":
    knob.clearFlag(nuke.STARTLINE)
    return knob


def _hidden(knob: "nuke.Knob") -> "nuke.Knob":
    knob.setFlag(nuke.INVISIBLE)
    return knob


def _enum(name: str, label: str, values: List[str], tooltip: str) -> "nuke.Knob":
    return _with_tip(nuke.Enumeration_Knob(name, label, values), tooltip)


def _int(name: str, label: str, value: int, tooltip: str) -> "nuke.Knob":
    knob = nuke.Int_Knob(name, label)
    knob.setValue(value)
    return _with_tip(knob, tooltip)


def _bool(name: str, label: str, value: bool, tooltip: str) -> "nuke.Knob":
    knob = nuke.Boolean_Knob(name, label)
    knob.setValue(value)
    return _with_tip(knob, tooltip)


def _string(name: str, label: str, value: str, tooltip: str) -> "nuke.Knob":
    knob = nuke.String_Knob(name, label)
    knob.setValue(value)
    return _with_tip(knob, tooltip)


def _quiet(knob: "nuke.Knob") -> "nuke.Knob":
    """A knob rewritten while jobs run: no re-render, no undo step."""
    knob.setFlag(nuke.NO_RERENDER)
    knob.setFlag(nuke.NO_UNDO)
    return knob


def _progress_knob() -> "nuke.Knob":
    knob = nuke.Double_Knob("progress", "progress")
    knob.setRange(0.0, 1.0)
    knob.setEnabled(False)
    return _quiet(knob)


def _views_knob() -> "nuke.Knob":
    return _with_tip(nuke.Enumeration_Knob("view", "view", list(nuke.views())),
                     "The view sent in a stereo script (one job per view); the first view is the main one. "
                     "The result replaces only this view; the others show the Source.")


def _mode(role: str) -> "nuke.Knob":
    return _with_tip(nuke.Enumeration_Knob(f"{role}_mode", f"{role} as", list(MATTE_MODES)),
                     f"How the {role.capitalize()} input reaches the server. auto: Roto shapes when they are "
                     "exactly what Nuke draws, else its alpha rendered through Nuke (the reason is shown). "
                     "shapes: always the shapes of the Roto nodes upstream. render: always the rendered alpha.")


def _guidance_knob() -> "nuke.Knob":
    knob = nuke.Double_Knob("guidance", "guidance")
    knob.setRange(1.0, 10.0)
    knob.setValue(1.0)
    return _with_tip(knob, "Classifier-free guidance scale of the VOID engine (1 = off).")


def _working_space() -> str:
    """The script's OCIO working space; under Nuke's own colour management its "linear" is
    linear Rec.709, the default."""
    root = nuke.root()
    management, working = root.knob("colorManagement"), root.knob("workingSpaceLUT")
    if management is None or working is None or management.value() != "OCIO":
        return DEFAULT_COLORSPACE
    return str(working.value()).strip() or DEFAULT_COLORSPACE


def knob_layout() -> List[Tuple[str, Callable[[], "nuke.Knob"]]]:
    """Every knob of the current layout, in panel order, as (name, factory)."""
    from ..client import DEFAULT_SERVER  # imports pyzmq: only when knobs are built

    return [
        ("void_tab", lambda: nuke.Tab_Knob("void_tab", "VOID")),
        ("server", lambda: _string("server", "server", DEFAULT_SERVER,
                                   "void-server address, e.g. tcp://gpu-host:5557 (VOID_SERVER sets the default).")),
        ("prompt", lambda: _with_tip(nuke.Multiline_Eval_String_Knob("prompt", "prompt"),
                                     "The scene AFTER removal, e.g. 'A wooden table with a cup on it.'")),
        ("frames", lambda: _string("frames", "frame range", "",
                                   "Frames to deliver, e.g. 1001-1100. Empty: the Source's own range.")),
        ("handle_head", lambda: _int("handle_head", "handles", 0, "Extra frames processed before the range.")),
        ("handle_tail", lambda: _same_line(_int("handle_tail", "", 0, "Extra frames processed after the range."))),
        ("engine", lambda: _enum("engine", "engine", list(ENGINES),
                                 "classic: CPU, no weights (quick look). void: the VOID model on the server's GPU.")),
        ("passes", lambda: _same_line(_enum("passes", "passes", ["1", "2"],
                                            "VOID Pass 2 re-runs from warped noise for temporal stability."))),
        ("steps", lambda: _int("steps", "steps", 50, "Denoising steps of the VOID engine.")),
        ("seed", lambda: _same_line(_int("seed", "seed", 42, "Random seed: the same seed gives the same result."))),
        ("guidance", _guidance_knob),
        ("roi", lambda: _enum("roi", "region", list(ROI_MODES),
                              "auto: crop around the edit when it is small; roi: always crop; full: whole frame.")),
        ("grain", lambda: _bool("grain", "match grain", True,
                                "Add grain measured from the plate to the fill; the fill before grain "
                                "then comes back too, as the fill layer, for your own regrain.")),
        ("colorspace", lambda: _string("colorspace", "colour space", _working_space(),
                                       "OCIO name of the scene-linear space of the Source pixels: the "
                                       "script's working space when the node was made.")),
        ("view", _views_knob),
        ("output", lambda: _with_tip(nuke.File_Knob("output", "output folder"),
                                     "Folder that receives v001, v002, ... Empty: <script folder>/void/<node>.")),
        ("masks_div", lambda: nuke.Text_Knob("masks_div", "masks")),
        ("remove_mode", lambda: _mode("remove")),
        ("use_selected_roto", lambda: _same_line(_button("use_selected_roto", "Remove \u2190 selected Roto",
                                                         "Connect the selected Roto/RotoPaint node to the "
                                                         "Remove input."))),
        ("affected_mode", lambda: _mode("affected")),
        ("use_selected_affected", lambda: _same_line(_button("use_selected_affected",
                                                             "Affected \u2190 selected Roto",
                                                             "Connect the selected Roto/RotoPaint node to the "
                                                             "Affected input."))),
        ("run_div", lambda: nuke.Text_Knob("run_div", "")),
        ("send", lambda: _button("send", "Send", "Export the inputs and send the shot to the server.")),
        ("cancel", lambda: _same_line(_button("cancel", "Cancel", "Cancel this node's running job on the server."))),
        ("preview_mask", lambda: _same_line(_button("preview_mask", "Preview mask",
                                                    "Build only the quadmask on the server and load it, "
                                                    "colour-coded, as a version of this node."))),
        ("show", lambda: _enum("show", "show", SHOW_VALUES, "What the node outputs: the selected result or "
                                                           "the Source unchanged.")),
        ("version", lambda: _same_line(_enum("version", "version", [NO_VERSION],
                                             "Result versions of this node; earlier ones are never overwritten."))),
        ("reload", lambda: _same_line(_button("reload", "Reload", "Re-read the selected version's files."))),
        ("status", lambda: _quiet(nuke.Text_Knob("status", "status", "idle"))),
        ("progress", _progress_knob),
        ("stale", lambda: _quiet(nuke.Text_Knob("stale", "", ""))),
        (VERSION_KNOB, lambda: _hidden(_int(VERSION_KNOB, VERSION_KNOB, NODE_VERSION, "Layout version."))),
        (NODE_ID_KNOB, lambda: _hidden(_string(NODE_ID_KNOB, NODE_ID_KNOB, new_node_id(),
                                               "This node's own id: tells a copy from the original."))),
        (JOB_KNOB, lambda: _hidden(_string(JOB_KNOB, JOB_KNOB, "", "The last job sent (JSON)."))),
        (VERSIONS_KNOB, lambda: _hidden(_string(VERSIONS_KNOB, VERSIONS_KNOB, "[]", "Result versions (JSON)."))),
        ("points_tab", lambda: nuke.Tab_Knob("points_tab", "Points")),
        ("points_help", lambda: nuke.Text_Knob(
            "points_help", "", "Clicked points for SAM2. Add a point, then drag its cross in the Viewer onto the "
                               "object (+) or onto what is not the object (-). Each point belongs to a frame.")),
        ("add_positive", lambda: _button("add_positive", "Add + point", "Add a point ON the object, at this frame.")),
        ("add_negative", lambda: _same_line(_button("add_negative", "Add - point",
                                                    "Add a point NOT on the object, at this frame."))),
        ("clear_points", lambda: _same_line(_button("clear_points", "Clear points", "Remove every clicked point."))),
    ]


def new_node_id() -> str:
    import uuid
    return uuid.uuid4().hex


def node_id(group: object) -> str:
    knob = group.knob(NODE_ID_KNOB)  # type: ignore[attr-defined]
    return str(knob.value()) if knob is not None else ""


def is_void_node(node: object) -> bool:
    return node is not None and node.knob(VERSION_KNOB) is not None  # type: ignore[attr-defined]


def void_nodes() -> List[object]:
    """Every VOID node of the script, inside Groups too."""
    return [n for n in nuke.allNodes("Group", nuke.root(), recurseGroups=True) if is_void_node(n)]


def _build_internals(group: object) -> None:
    with group:  # type: ignore[attr-defined]
        found = {n.name(): n for n in nuke.allNodes()}
        for number, name in enumerate(INPUTS):
            if name not in found:
                found[name] = nuke.nodes.Input(name=name, number=number)
        versions = found.get(VERSIONS_SWITCH)
        if versions is None:
            versions = nuke.nodes.Switch(name=VERSIONS_SWITCH)
            versions["which"].setExpression("parent.version")
            versions.setInput(0, found["Source"])
        switch = found.get(SWITCH)
        if switch is None:
            switch = nuke.nodes.Switch(name=SWITCH)
            switch["which"].setExpression("parent.show")
        switch.setInput(0, versions)
        switch.setInput(1, found["Source"])
        if "Output" not in found:
            nuke.nodes.Output(name="Output").setInput(0, switch)


def _add_missing_knobs(group: object) -> List[str]:
    added = []
    for name, factory in knob_layout():
        if group.knob(name) is None:  # type: ignore[attr-defined]
            group.addKnob(factory())  # type: ignore[attr-defined]
            added.append(name)
    return added


def _install_callbacks(group: object) -> None:
    group["onCreate"].setValue(guarded("on_create(nuke.thisNode())"))  # type: ignore[index]
    group["knobChanged"].setValue(guarded("on_knob_changed(nuke.thisNode(), nuke.thisKnob())"))  # type: ignore[index]


def create_void_node(name: str = "VOID1") -> object:
    """Create a VOID node (connected to the selected node, as any new node is)."""
    group = nuke.createNode("Group", inpanel=False)
    group.setName(name)
    group["tile_color"].setValue(TILE_COLOURS["idle"])
    group["label"].setValue("[value version]")
    _add_missing_knobs(group)
    _build_internals(group)
    _install_callbacks(group)
    return group


def _migrate_roto_names(group: object) -> str:
    """Layout 1 named Roto nodes in a knob; layout 2 follows the Remove input. Connect the named one."""
    knob = group.knob("roto_nodes")  # type: ignore[attr-defined]
    if knob is None:
        return ""
    names = [n for n in str(knob.value()).replace(",", " ").split() if n]
    group.removeKnob(knob)  # type: ignore[attr-defined]
    if not names:
        return ""
    with nuke.root():
        rotos = [nuke.toNode(n) for n in names]
    rotos = [r for r in rotos if r is not None and r.Class() in ("Roto", "RotoPaint")]
    if len(rotos) == 1 and group.input(1) is None:  # type: ignore[attr-defined]
        group.setInput(1, rotos[0])  # type: ignore[attr-defined]
        return f"; {rotos[0].name()} now feeds the Remove input"
    return (f"; it named Roto nodes {', '.join(names)}: connect them (merged) to the Remove or Affected "
            "input, which is where shapes come from now")


def migrate(group: object) -> Dict[str, object]:
    """Bring a VOID node made by an older release up to ``NODE_VERSION``.

    Knobs added since are created with their defaults, the internal nodes are
    rebuilt if missing, and the callbacks are refreshed. A node made by a newer
    release is left alone. Returns what was done, for the log.
    """
    knob = group.knob(VERSION_KNOB)  # type: ignore[attr-defined]
    found = int(knob.value()) if knob is not None else 0
    if found > NODE_VERSION:
        return {"from": found, "to": found, "added": [], "message":
                f"{group.name()} was made by a newer void-nuke (layout {found}); update void-nuke "  # type: ignore[attr-defined]
                "on this machine"}
    if found == NODE_VERSION:
        return {"from": found, "to": found, "added": [], "message": ""}
    added = _add_missing_knobs(group)
    roto_note = _migrate_roto_names(group)
    _build_internals(group)
    _install_callbacks(group)
    from .results import rewire  # the versions' nodes, rebuilt from the records

    rewire(group)
    group[VERSION_KNOB].setValue(NODE_VERSION)  # type: ignore[index]
    return {"from": found, "to": NODE_VERSION, "added": added,
            "message": f"{group.name()}: layout {found} -> {NODE_VERSION}{roto_note}"}  # type: ignore[attr-defined]


def inside(group: object, name: str) -> Optional[object]:
    """A node inside the Group by name, or None."""
    with group:  # type: ignore[attr-defined]
        return nuke.toNode(name)
