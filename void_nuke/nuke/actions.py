"""What Nuke calls: the VOID node's callbacks and buttons, script load, idle updates, and the menus.

The node's knob scripts call these by import path (through ``node.guarded``),
so the logic stays in the package and a script saved today keeps working
with tomorrow's release.

A button on a Group runs with that Group as Nuke's current context, so its
action runs in the context of the group *holding* the VOID node (the script
root, or the user's Group around it): there ``nuke.selectedNodes()`` lists
what the artist selected in the Node Graph.

The stale flag is refreshed when the node's panel opens, when one of its
result knobs changes, before Send, when a result arrives, when a script is
loaded, and while Nuke is idle after any change (``addUpdateUI``), at most
once every ``STALE_INTERVAL_S`` per node (a change inside that second is
checked when it ends).
"""
from __future__ import annotations

import time
import traceback
from typing import Callable, Dict

import nuke

from ..errors import VoidError
from ..streaming import Throttle
from . import jobs, points, results
from .export import format_size
from .node import (JOB_KNOB, NODE_ID_KNOB, RESULT_KNOBS, create_void_node, is_void_node, migrate, new_node_id,
                   node_id, void_nodes)
from .roto import ROTO_CLASSES
from .state import POINT_PREFIX

STALE_INTERVAL_S = 1.0
clock: Callable[[], float] = time.monotonic
"""The stale throttle's clock (tests put a manual one here)."""
_stale_checks: Dict[str, Throttle] = {}


def _refresh_views(group: object) -> None:
    """The view menu follows the script's views (a script may gain or lose views)."""
    knob = group.knob("view")  # type: ignore[attr-defined]
    views = list(nuke.views())
    if knob is not None and knob.values() != views:
        keep = knob.value()
        knob.setValues(views)
        if keep in views:
            knob.setValue(keep)


def on_create(group: object) -> None:
    """onCreate of every VOID node (new, loaded or pasted): migrate older layouts, tell a copy from its original.

    A pasted copy arrives with the original's hidden knobs, its node id and
    its job among them. When another VOID node already has this id, this one
    is the copy: it gets an id of its own and forgets the job, which stays
    with the original.
    """
    report = migrate(group)
    if report["message"]:
        print(f"VOID: {report['message']}")
    own = node_id(group)
    twins = [n for n in void_nodes() if n is not group and node_id(n) == own]
    if not own or twins:
        group[NODE_ID_KNOB].setValue(new_node_id())  # type: ignore[index]
    if twins:
        group[JOB_KNOB].setValue("")  # type: ignore[index]
        with results.quietly():
            group["status"].setValue(f"copy of {twins[0].name()}: its jobs stay with it")  # type: ignore[index,attr-defined]


def on_knob_changed(group: object, knob: object) -> None:
    name = knob.name()  # type: ignore[attr-defined]
    if name == "showPanel":
        _refresh_views(group)
        results.refresh_stale(group)
    elif name == "version":
        results.select_version(group, knob.value())  # type: ignore[attr-defined]
    elif name in RESULT_KNOBS or name.startswith(POINT_PREFIX) or name == "inputChange":
        results.refresh_stale(group)


def _refresh_by_id(owner: str) -> None:
    node = next((n for n in void_nodes() if node_id(n) == owner), None)
    if node is not None and results.records(node):
        results.refresh_stale(node)


def on_update_ui() -> None:
    """``addUpdateUI`` callback: runs for every Group while Nuke idles after a change."""
    group = nuke.thisNode()
    if not is_void_node(group) or not results.records(group):
        return
    owner = node_id(group)
    check = _stale_checks.get(owner)
    if check is None:
        check = _stale_checks[owner] = Throttle(STALE_INTERVAL_S, lambda: jobs._on_main_gui(_refresh_by_id, owner),
                                                clock=clock)
    check.request()


def _parent(group: object) -> object:
    """The group holding the VOID node: the script root, or the Group it sits in."""
    path = group.fullName().split(".")  # type: ignore[attr-defined]
    with nuke.root():
        return nuke.toNode(".".join(path[:-1])) if len(path) > 1 else nuke.root()


def _connect_selected(group: object, index: int, input_name: str) -> None:
    rotos = [n for n in nuke.selectedNodes() if n.Class() in ROTO_CLASSES]
    if len(rotos) != 1:
        raise VoidError(f"select one Roto or RotoPaint node in the Node Graph, then press this button to "
                        f"connect it to the {input_name} input ({len(rotos)} selected)")
    group.setInput(index, rotos[0])  # type: ignore[attr-defined]


def _add_point(group: object, positive: bool) -> None:
    source = group.input(0)  # type: ignore[attr-defined]
    points.add_point(group, positive, nuke.frame(), format_size(source if source is not None else nuke.root()))


BUTTONS = {
    "send": lambda g: jobs.send(g),
    "preview_mask": lambda g: jobs.send(g, preview=True),
    "cancel": jobs.cancel,
    "reload": results.reload,
    "use_selected_roto": lambda g: _connect_selected(g, 1, "Remove"),
    "use_selected_affected": lambda g: _connect_selected(g, 2, "Affected"),
    "add_positive": lambda g: _add_point(g, True),
    "add_negative": lambda g: _add_point(g, False),
    "clear_points": points.clear_points,
}


def on_button(group: object, name: str) -> None:
    """A VOID node button; a problem the artist can fix is shown, not raised."""
    try:
        with _parent(group):  # type: ignore[attr-defined]
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
    """GUI start-up (gizmos/menu.py): menu entries, the panel, the script-load and idle hooks.

    Nothing here contacts a server.
    """
    menu = nuke.menu("Nodes").addMenu("VOID")
    menu.addCommand("VOID", create_void_node)
    menu.addCommand("Submit selected to farm...", _submit_to_farm)
    nuke.addOnScriptLoad(on_script_load)
    nuke.addUpdateUI(on_update_ui, nodeClass="Group")
    try:
        from .panel_widget import register
        register()
    except Exception:  # no Qt binding: the node still works without the panel
        traceback.print_exc()
