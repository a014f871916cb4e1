"""Result versions inside a VOID node: one Read per version, the selected one wired out.

Every run lands in its own version folder (``OUT/v001``, ``OUT/v002``...;
the client claims it) and becomes a Read named ``Result_v001``... inside the
Group. Earlier versions stay, selectable with the ``version`` knob; the
records (path, frames, job id, input hash) live in a hidden knob, so a
reopened script finds them and a deleted Read is rebuilt from its record.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import nuke

from .node import RESULT_PREFIX, SHOW_VALUES, SWITCH, TILE_COLOURS, VERSIONS_KNOB, inside
from .state import state_hash

PREVIEW_SUFFIX = " (mask preview)"


@dataclass(frozen=True)
class VersionRecord:
    """One delivered version of a node's result."""

    name: str
    """The version folder's name: ``v003``."""
    pattern: str
    """The frames, in Nuke's notation: ``/out/v003/sh010.####.exr``."""
    first: int
    last: int
    job_id: str
    state_hash: str
    """``state.state_hash`` of the node when the job was sent."""
    preview: bool = False
    """A quadmask preview rather than a result."""

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


def records(group: object) -> List[VersionRecord]:
    text = group[VERSIONS_KNOB].value() or "[]"  # type: ignore[index]
    return [VersionRecord.from_dict(d) for d in json.loads(text)]


def _save(group: object, found: List[VersionRecord]) -> None:
    group[VERSIONS_KNOB].setValue(json.dumps([asdict(r) for r in found]))  # type: ignore[index]
    group["version"].setValues([r.label for r in found] or [" "])  # type: ignore[index]


def selected(group: object) -> Optional[VersionRecord]:
    label = group["version"].value()  # type: ignore[index]
    return next((r for r in records(group) if r.label == label), None)


def _read_for(group: object, record: VersionRecord) -> object:
    """The version's Read inside the Group, rebuilt from its record if it was deleted."""
    read = inside(group, record.read_name)
    if read is not None:
        return read
    with group:  # type: ignore[attr-defined]
        read = nuke.nodes.Read(name=record.read_name)
        read["file"].fromUserText(f"{record.pattern} {record.first}-{record.last}")
        for knob, value in (("first", record.first), ("last", record.last), ("origfirst", record.first),
                            ("origlast", record.last), ("raw", True), ("on_error", "black"),
                            ("label", f"job {record.job_id}")):
            read[knob].setValue(value)
    return read


def select_version(group: object, label: str) -> Optional[VersionRecord]:
    """Wire the version with this label to the node's output; None if there is no such version."""
    record = next((r for r in records(group) if r.label == label), None)
    if record is None:
        return None
    read = _read_for(group, record)
    inside(group, SWITCH).setInput(0, read)  # type: ignore[union-attr]
    if group["version"].value() != record.label:  # type: ignore[index]  # knobChanged calls back here
        group["version"].setValue(record.label)  # type: ignore[index]
    group["show"].setValue(SHOW_VALUES[0])  # type: ignore[index]
    refresh_stale(group)
    return record


def add_version(group: object, record: VersionRecord) -> object:
    """Record a new version, build its Read, and show it. Returns the Read."""
    found = [r for r in records(group) if r.name != record.name] + [record]
    found.sort(key=lambda r: r.name)
    _save(group, found)
    read = _read_for(group, record)
    select_version(group, record.label)
    return read


def reload(group: object) -> None:
    """Re-read the selected version's files (after frames were rewritten or added)."""
    record = selected(group)
    if record is not None:
        _read_for(group, record)["reload"].execute()  # type: ignore[index]


def refresh_stale(group: object, roto_nodes: Optional[List[object]] = None) -> bool:
    """Show whether the selected result still matches the node's inputs and settings."""
    from .roto import find_roto_nodes

    record = selected(group)
    if roto_nodes is None:
        roto_nodes = find_roto_nodes(group["roto_nodes"].value(), strict=False)  # type: ignore[index]
    stale = record is not None and state_hash(group, roto_nodes) != record.state_hash
    group["stale"].setValue(  # type: ignore[index]
        f"<font color=#e0a030>stale: inputs or settings changed since {record.name} was sent; Send again"
        "</font>" if stale and record is not None else "")
    if record is not None:
        group["tile_color"].setValue(TILE_COLOURS["stale" if stale else "done"])  # type: ignore[index]
    return stale
