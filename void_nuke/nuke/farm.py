"""'Submit to farm' for the selected VOID nodes.

Each node is snapshotted (and its inputs exported) on the main thread exactly
as Send does; the shots then go to the Qt-free ``void_nuke.farm.submitter``,
the same code path the CLI uses, which writes the farm's job files.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import nuke

from ..errors import VoidError
from .node import is_void_node
from .snapshot import output_dir, take


def selected_void_nodes() -> List[object]:
    return [n for n in nuke.selectedNodes() if is_void_node(n)]


def _ask(default_dir: str) -> Optional[Tuple[str, str]]:
    """Farm and job folder from a small dialog; None when the artist cancels."""
    from ..farm.submitter import FARMS

    panel = nuke.Panel("Submit VOID to farm")
    panel.addEnumerationPulldown("farm", " ".join(FARMS))
    panel.addFilenameSearch("job folder", default_dir)
    if not panel.show():
        return None
    return str(panel.value("farm")), str(panel.value("job folder"))


def submit_nodes(nodes: List[object], farm: str, job_dir: str) -> List[str]:
    """Write farm jobs for ``nodes``; returns the files written."""
    from ..farm.submitter import submit_shots  # the farm extras are imported only when used

    shots = [take(node).shot for node in nodes]
    return submit_shots(shots, farm, job_dir)


def submit_selected() -> List[str]:
    """The menu command: ask where, write the jobs, and say what was written."""
    nodes = selected_void_nodes()
    if not nodes:
        raise VoidError("select one or more VOID nodes, then choose Submit to farm")
    choice = _ask(os.path.join(output_dir(nodes[0]), "farm"))
    if choice is None:
        return []
    paths = submit_nodes(nodes, *choice)
    nuke.message(f"VOID: wrote {len(paths)} farm file(s) for {len(nodes)} node(s) into {choice[1]}.\n"
                 "Submit them with your farm's own tool (see docs/pipeline.md).")
    return paths
