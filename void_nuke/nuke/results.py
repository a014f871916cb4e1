"""Result versions inside a VOID node, streamed in while their job runs, and the stale flag.

Every run lands in its own version folder (``OUT/v001``, ``OUT/v002``...;
the client claims it) and becomes, inside the Group:

- ``Result_vNNN``: a Read of the frames (relative to the project directory
  when under it), ``before``/``after`` black, missing frames black;
- ``Range_vNNN``: a Switch whose ``which`` is the expression
  ``frame<Result_vNNN.first||frame>Result_vNNN.last``: on the frames that
  have landed it shows the Read, elsewhere the Source passes through;
- in a stereo script, ``Views_vNNN``: a JoinViews that takes the result for
  the job's view and the Source for every other view.

The ``Versions`` switch picks the selected version by the expression
``parent.version`` (an enumeration reads as its index, and the version menu
lists the records in the order the switch's inputs are wired), so setting
``version`` from Python, with the panel closed, changes the output.

While a job runs its version appears as soon as its folder exists and its
Read's range grows as frames land (``extend``); the records (path, frames,
job id, input hash, view) live in a hidden knob, so a reopened script finds
them and a deleted Read is rebuilt.

The stale flag compares the input hash stored with the selected version with
the node's hash now (``refresh_stale``); docs/nuke.md lists when it runs.
Knob writes made here for display (stale text, tile colour) are made outside
undo and leave the script's modified state as it was (``quietly``).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Iterator, List, Optional

import nuke

from . import paths
from .node import (INPUTS, NO_VERSION, RANGE_PREFIX, RESULT_PREFIX, SHOW_VALUES, TILE_COLOURS, VERSIONS_KNOB,
                   VERSIONS_SWITCH, VIEWS_PREFIX, inside)
from .state import state_hash

PREVIEW_SUFFIX = " (mask preview)"


@dataclass(frozen=True)
class VersionRecord:
    """One version of a node's result (still landing while ``streaming``)."""

    name: str
    """The version folder's name: ``v003``."""
    pattern: str
    """The frames, absolute, in Nuke's notation: ``/out/v003/sh010.####.exr``."""
    first: int
    last: int
    """The frames shown: those landed so far while streaming, every delivered one after."""
    job_id: str
    state_hash: str
    """``state.state_hash`` of the node when the job was sent."""
    preview: bool = False
    """A quadmask preview rather than a result."""
    view: str = ""
    """The stereo view the job sent; empty in a single-view script."""
    streaming: bool = False

    @property
    def label(self) -> str:
        return self.name + (PREVIEW_SUFFIX if self.preview else "")

    @property
    def read_name(self) -> str:
        return RESULT_PREFIX + self.name

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "VersionRecord":
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in fields})


@contextmanager
def no_undo() -> Iterator[None]:
    """Knob and node changes made for a job, not by the artist: Edit > Undo must not take them back."""
    nuke.Undo.disable()
    try:
        yield
    finally:
        nuke.Undo.enable()


@contextmanager
def quietly() -> Iterator[None]:
    """Knob writes that neither add undo steps nor mark the script modified (display only)."""
    root = nuke.root()
    modified = root.modified()
    nuke.Undo.disable()
    try:
        yield
    finally:
        nuke.Undo.enable()
        root.setModified(modified)


def set_if_changed(group: object, values: Dict[str, Any]) -> None:
    for name, value in values.items():
        knob = group[name]  # type: ignore[index]
        if knob.value() != value:
            knob.setValue(value)


def records(group: object) -> List[VersionRecord]:
    text = group[VERSIONS_KNOB].value() or "[]"  # type: ignore[index]
    return [VersionRecord.from_dict(d) for d in json.loads(text)]


def selected(group: object) -> Optional[VersionRecord]:
    label = group["version"].value()  # type: ignore[index]
    return next((r for r in records(group) if r.label == label), None)


def _build(group: object, name: str, cls: str) -> object:
    node = inside(group, name)
    if node is None:
        with group:  # type: ignore[attr-defined]
            node = getattr(nuke.nodes, cls)(name=name)
    return node


def _connect(node: object, index: int, source: object) -> None:
    if node.input(index) is not source:  # type: ignore[attr-defined]
        node.setInput(index, source)  # type: ignore[attr-defined]


def _version_nodes(group: object, record: VersionRecord) -> object:
    """The Read, Range switch (and JoinViews) of a version, made or updated; returns its output node."""
    source = inside(group, INPUTS[0])
    read = _build(group, record.read_name, "Read")
    wanted = paths.for_read(record.pattern)
    if read["file"].getText() != wanted:  # type: ignore[index]
        read["file"].setValue(wanted)  # type: ignore[index]
    plate = group.input(0)  # type: ignore[attr-defined]
    if plate is not None:  # results have the plate's format, also before their first file exists
        fmt = plate.format()
        have = read["format"].value()  # type: ignore[index]
        if have is None or (have.width(), have.height(), have.pixelAspect()) != \
                (fmt.width(), fmt.height(), fmt.pixelAspect()):
            read["format"].setValue(fmt)  # type: ignore[index]
    for knob, value in (("first", record.first), ("last", record.last), ("origfirst", record.first),
                        ("origlast", record.last), ("before", "black"), ("after", "black"), ("raw", True),
                        ("on_error", "black"),
                        ("label", f"job {record.job_id}" + (f"\nview {record.view}" if record.view else ""))):
        if read[knob].value() != value:  # type: ignore[index]
            read[knob].setValue(value)  # type: ignore[index]
    show = _build(group, RANGE_PREFIX + record.name, "Switch")
    expression = f"frame<{record.read_name}.first||frame>{record.read_name}.last"
    if not show["which"].hasExpression():  # type: ignore[index]
        show["which"].setExpression(expression)  # type: ignore[index]
    _connect(show, 0, read)
    _connect(show, 1, source)
    views = nuke.views()
    if len(views) < 2 or not record.view:
        return show
    join = _build(group, VIEWS_PREFIX + record.name, "JoinViews")
    for i, view in enumerate(views):
        _connect(join, i, show if view == record.view else source)
    return join


def rewire(group: object) -> None:
    """Wire every version's nodes into the Versions switch, in the order of the version menu."""
    found = records(group)
    switch = inside(group, VERSIONS_SWITCH)
    if switch is None:
        return
    if not found:
        _connect(switch, 0, inside(group, INPUTS[0]))
        return
    for i, record in enumerate(found):
        _connect(switch, i, _version_nodes(group, record))


def _save(group: object, found: List[VersionRecord]) -> None:
    found.sort(key=lambda r: r.name)
    group[VERSIONS_KNOB].setValue(json.dumps([asdict(r) for r in found]))  # type: ignore[index]
    labels = [r.label for r in found] or [NO_VERSION]
    if group["version"].values() != labels:  # type: ignore[index]
        keep = group["version"].value()  # type: ignore[index]
        group["version"].setValues(labels)  # type: ignore[index]
        if keep in labels:
            group["version"].setValue(keep)  # type: ignore[index]


def add_version(group: object, record: VersionRecord, select: bool = True) -> None:
    """Record a version (new or updated), build its nodes and, with ``select``, show it."""
    found = [r for r in records(group) if r.name != record.name] + [record]
    _save(group, found)
    rewire(group)
    if select:
        select_version(group, record.label)


def remove_version(group: object, name: str) -> None:
    """Forget a version that never landed a frame (a cancelled or failed job): its record and nodes."""
    found = records(group)
    record = next((r for r in found if r.name == name), None)
    if record is None:
        return
    _save(group, [r for r in found if r.name != name])
    for node_name in (VIEWS_PREFIX + name, RANGE_PREFIX + name, record.read_name):
        node = inside(group, node_name)
        if node is not None:
            nuke.delete(node)
    rewire(group)


def extend(group: object, name: str, first: int, last: int, streaming: bool) -> Optional[VersionRecord]:
    """Update the range a version shows (frames landed); returns the record, None if there is none."""
    found = records(group)
    record = next((r for r in found if r.name == name), None)
    if record is None:
        return None
    updated = replace(record, first=first, last=last, streaming=streaming)
    if updated != record:
        _save(group, [r for r in found if r.name != name] + [updated])
        _version_nodes(group, updated)
    return updated


def select_version(group: object, label: str) -> Optional[VersionRecord]:
    """Show the version with this label; None if there is no such version."""
    record = next((r for r in records(group) if r.label == label), None)
    if record is None:
        return None
    if inside(group, record.read_name) is None:  # deleted by hand: rebuilt from its record
        rewire(group)
    if group["version"].value() != record.label:  # type: ignore[index]
        group["version"].setValue(record.label)  # type: ignore[index]
    if group["show"].value() != SHOW_VALUES[0]:  # type: ignore[index]
        group["show"].setValue(SHOW_VALUES[0])  # type: ignore[index]
    refresh_stale(group)
    return record


def reload(group: object, name: Optional[str] = None) -> None:
    """Re-read a version's files (the selected one by default) after frames were added."""
    record = next((r for r in records(group) if r.name == name), None) if name else selected(group)
    if record is None:
        return
    read = inside(group, record.read_name)
    if read is None:
        rewire(group)
        read = inside(group, record.read_name)
    read["reload"].execute()  # type: ignore[index,union-attr]


STALE_TEXT = ("<font color=#e0a030>stale: inputs or settings changed since {name} was sent; Send again"
              "</font>")


def refresh_stale(group: object) -> bool:
    """Show whether the selected result still matches the node's inputs and settings."""
    record = selected(group)
    stale = record is not None and not record.streaming and state_hash(group) != record.state_hash
    values: Dict[str, Any] = {"stale": STALE_TEXT.format(name=record.name) if stale and record else ""}
    if record is not None and not record.streaming:
        values["tile_color"] = TILE_COLOURS["stale" if stale else "done"]
    with quietly():
        set_if_changed(group, values)
    return stale
