"""The CPU tasks around a farm render: prepare (before) and publish (after).

``prepare`` catches export mistakes on a cheap machine before a GPU is booked:
every plate and matte frame exists, its header reads, mattes share the plate's
format and carry the matte channel, the plate's format does not change mid-shot.
It then makes the shot's version folder, so every render task of the shot finds
it. ``publish`` checks that every frame was delivered and writes a manifest
beside the frames; a version with a manifest is complete.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .. import __version__
from ..atomic import atomic_write_bytes
from ..errors import VoidError
from ..preflight import check_inputs
from ..shot import Shot
from ..versions import OWNER_FILE, claim_version, find_job_version
from .plan import check_version, claimed_on_farm, result_pattern, version_owner

MANIFEST_SUFFIX = ".publish.json"


@dataclass
class PrepareReport:
    version_dir: str
    frames: int
    inputs: List[str] = field(default_factory=list)
    already_delivered: List[int] = field(default_factory=list)
    preview_dir: Optional[str] = None


def _shown(frames: List[int]) -> str:
    return ", ".join(str(f) for f in frames[:8]) + (" ..." if len(frames) > 8 else "")


def version_dir(shot: Shot, version: str) -> str:
    """The folder ``version`` names: ``OUT/vNNN``, or the one this job's Prepare claimed (``next-...``)."""
    if not claimed_on_farm(check_version(version)):
        return os.path.join(shot.output.directory, version)
    found = find_job_version(shot.output.directory, version_owner(shot.name, version))
    if found is None:
        raise VoidError(f"{shot.name}: no version folder in {shot.output.directory} was claimed for {version}; "
                        "its Prepare task claims one: run or retry it first", code="no_version")
    return found


def ensure_version(shot: Shot, version: str) -> str:
    """Make the version folder if the submission did not claim it already.

    A ``next-...`` version claims the next free folder now, for this job alone;
    a retried Prepare finds the folder it claimed before.
    """
    out = shot.output.directory
    try:
        if claimed_on_farm(check_version(version)):
            return claim_version(out, version_owner(shot.name, version))
        path = os.path.join(out, version)
        if os.path.isdir(path):
            return path
        os.makedirs(out, exist_ok=True)
        os.mkdir(path)
    except FileExistsError:  # another task of the shot made it first
        return os.path.join(out, version)
    except OSError as exc:
        raise VoidError(f"cannot create a version folder in {out}: {exc.strerror or exc}; check that the "
                        "output folder is mounted and writable on this machine") from None
    atomic_write_bytes(os.path.join(path, OWNER_FILE), f"{shot.name}-farm".encode("utf-8"))
    return path


def prepare_shot(shot: Shot, version: str, preview: bool = False,
                 on_progress: Optional[Callable[[Any], None]] = None) -> PrepareReport:
    """Validate the shot's inputs, make its version folder, optionally preview its quadmask."""
    inputs = check_inputs(shot)
    path = ensure_version(shot, version)
    frames = list(shot.process_frames)
    done = delivered_frames(shot, path)
    report = PrepareReport(version_dir=path, frames=len(frames), inputs=inputs, already_delivered=done)
    if preview:
        report.preview_dir = write_preview(shot, version, on_progress)
    return report


def write_preview(shot: Shot, version: str, on_progress: Optional[Callable[[Any], None]] = None) -> str:
    """The quadmask as colour frames in ``OUT/quadmask/<version>/<name>_quadmask.####.exr`` (runs the
    mask stage in-process)."""
    try:
        from void_server.runner import run_shot_local
    except ImportError:
        raise VoidError("a quadmask preview needs the server parts on this machine: "
                        "pip install 'void-nuke[server]'") from None
    result = run_shot_local(shot, job_id=f"{shot.name}-quadmask-{version}", on_progress=on_progress,
                            version=version, preview=True, check_inputs=False)
    return result.version_dir


def delivered_frames(shot: Shot, folder: str) -> List[int]:
    """The shot's frames whose result file is in ``folder``."""
    return [f for f in shot.process_frames if os.path.isfile(os.path.join(folder, shot.result_name(f)))]


def publish_shot(shot: Shot, version: str) -> str:
    """Check that every frame is delivered, then write the version's manifest; return its path.

    Publishing again a complete version leaves the first manifest in place.
    """
    path = version_dir(shot, version)
    version = os.path.basename(path)
    frames = list(shot.process_frames)
    delivered = set(delivered_frames(shot, path))
    missing = [f for f in frames if f not in delivered]
    if missing:
        raise VoidError(f"{shot.name} {version}: {len(missing)} of {len(frames)} frame(s) not delivered to "
                        f"{path}: {_shown(missing)}. Re-run the failed render tasks, then publish again.",
                        code="incomplete", detail={"missing": missing})
    target = os.path.join(path, shot.output_name + MANIFEST_SUFFIX)
    if os.path.isfile(target):
        return target
    manifest: Dict[str, Any] = {
        "shot": shot.name, "version": version, "frames": str(shot.process_frames), "count": len(frames),
        "files": os.path.join(path, result_pattern(shot)),
        "engine": shot.engine.name, "fingerprint": shot.fingerprint(),
        "published_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "void_nuke": __version__,
    }
    try:
        atomic_write_bytes(target, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    except FileExistsError:  # another publish task won the race
        pass
    return target
