"""What Nuke calls: the VOID node's callbacks and buttons, script load, and the menus.

The node's knob scripts call these by import path (through ``node.guarded``),
so the logic stays in the package and a script saved today keeps working
with tomorrow's release.
"""
from __future__ import annotations

import traceback

import nuke

from ..errors import VoidError
from . import jobs, points, results
from .export import format_size
from .node import RESULT_KNOBS, create_void_node, migrate, void_nodes
from .roto import ROTO_CLASSES
from .state import POINT_PREFIX


def on_create(group: object) -> None:
    """onCreate of every VOID node (new or loaded): migrate older layouts."""
    report = migrate(group)
    if report["message"]:
        print(f"VOID: {report['message']}")


def on_knob_changed(group: object, knob: object) -> None:
    name = knob.name()  # type: ignore[attr-defined]
    if name == "version":
        results.select_version(group, knob.value())  # type: ignore[attr-defined]
    elif name in RESULT_KNOBS or name.startswith(POINT_PREFIX) or name == "inputChange":
        results.refresh_stale(group)


def _use_selected_roto(group: object) -> None:
    names = [n.fullName() for n in nuke.selectedNodes() if n.Class() in ROTO_CLASSES]
    if not names:
        raise VoidError("select one or more Roto or RotoPaint nodes first")
    group["roto_nodes"].setValue(" ".join(names))  # type: ignore[index]


def _add_point(group: object, positive: bool) -> None:
    source = group.input(0)  # type: ignore[attr-defined]
    points.add_point(group, positive, nuke.frame(), format_size(source if source is not None else nuke.root()))


BUTTONS = {
    "send": lambda g: jobs.send(g),
    "preview_mask": lambda g: jobs.send(g, preview=True),
    "cancel": jobs.cancel,
    "reload": results.reload,
    "use_selected_roto": _use_selected_roto,
    "add_positive": lambda g: _add_point(g, True),
    "add_negative": lambda g: _add_point(g, False),
    "clear_points": points.clear_points,
}


def on_button(group: object, name: str) -> None:
    """A VOID node button; a problem the artist can fix is shown, not raised."""
    try:
        BUTTONS[name](group)
    except VoidError as exc:
        if not nuke.GUI:
            raise
        nuke.message(f"{group.name()}: {exc.message}")  # type: ignore[attr-defined]


def on_script_load() -> None:
    """After a script opens: show stale results and follow jobs that were still running."""
    for group in void_nodes():
        results.refresh_stale(group)
    jobs.reattach_all()


def _submit_to_farm() -> None:
    from .farm import submit_selected

    try:
        submit_selected()
    except VoidError as exc:
        nuke.message(f"VOID: {exc.message}")


def install_menus() -> None:
    """GUI start-up (gizmos/menu.py): menu entries, the panel, the script-load hook.

    Nothing here contacts a server.
    """
    menu = nuke.menu("Nodes").addMenu("VOID")
    menu.addCommand("VOID", create_void_node)
    menu.addCommand("Submit selected to farm...", _submit_to_farm)
    nuke.addOnScriptLoad(on_script_load)
    try:
        from .panel_widget import register
        register()
    except Exception:  # no Qt binding: the node still works without the panel
        traceback.print_exc()
