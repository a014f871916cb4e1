"""Versioned result folders: ``OUT/v001``, ``OUT/v002``... never reused, never wasted.

A version folder is claimed only when a job's first result is about to be
written (``VersionFolder.claim``), so a run that fails before that leaves no
folder behind, and one that ends with no frames is removed again
(``release_if_empty``; a folder holding frames is never removed). A marker file
names the job that owns the folder, so a client re-attaching to the job, or
retrying it with the same job id, continues in the same folder.

Claims go through a lock folder in ``OUT`` (``os.mkdir`` is atomic on local
and network file systems alike), so two clients claiming at once get
different versions, and two clients of the same job get the same one.
Quadmask previews are versioned the same way in ``OUT/quadmask/``.
"""
from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, List, Optional

from .atomic import atomic_write_bytes
from .shot import Shot

_VERSION = re.compile(r"^v(\d{3,})$")
OWNER_FILE = ".void-job"
LOCK_NAME = ".void-claim.lock"
STALE_LOCK_S = 30.0
"""A lock older than this was left by a client that died while claiming (claims take milliseconds)."""
PREVIEW_FOLDER = "quadmask"
PREVIEW_SUFFIX = "_quadmask"


def list_versions(out_dir: str) -> List[int]:
    if not os.path.isdir(out_dir):
        return []
    found = []
    for name in os.listdir(out_dir):
        m = _VERSION.match(name)
        if m and os.path.isdir(os.path.join(out_dir, name)):
            found.append(int(m.group(1)))
    return sorted(found)


def version_name(number: int) -> str:
    return f"v{number:03d}"


def find_job_version(out_dir: str, job_id: str) -> Optional[str]:
    """The version folder already claimed by ``job_id``, if any."""
    for number in reversed(list_versions(out_dir)):
        path = os.path.join(out_dir, version_name(number))
        try:
            with open(os.path.join(path, OWNER_FILE), encoding="utf-8") as fh:
                if fh.read().strip() == job_id:
                    return path
        except OSError:
            continue
    return None


@contextmanager
def claim_lock(out_dir: str) -> Iterator[None]:
    """Hold ``OUT/.void-claim.lock`` while versions are looked up, made or removed."""
    os.makedirs(out_dir, exist_ok=True)
    lock = os.path.join(out_dir, LOCK_NAME)
    while True:
        try:
            os.mkdir(lock)
            break
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime > STALE_LOCK_S:
                    os.rmdir(lock)
                    continue
            except OSError:
                continue  # released between the two calls
            time.sleep(0.01)
    try:
        yield
    finally:
        os.rmdir(lock)


def claim_version(out_dir: str, job_id: str) -> str:
    """Return the job's version folder, creating the next free ``vNNN`` if it has none."""
    with claim_lock(out_dir):
        existing = find_job_version(out_dir, job_id)
        if existing:
            return existing
        number = (list_versions(out_dir) or [0])[-1] + 1
        while True:
            path = os.path.join(out_dir, version_name(number))
            try:
                os.mkdir(path)
            except FileExistsError:  # a folder made by hand, or by an older client without the lock
                number += 1
                continue
            atomic_write_bytes(os.path.join(path, OWNER_FILE), job_id.encode("utf-8"))
            return path


def release_if_empty(path: str) -> bool:
    """Remove a version folder that holds nothing but its marker; True if it was removed."""
    out_dir = os.path.dirname(path)
    if not os.path.isdir(path):
        return False
    with claim_lock(out_dir):
        try:
            if set(os.listdir(path)) - {OWNER_FILE}:
                return False
            os.unlink(os.path.join(path, OWNER_FILE))
            os.rmdir(path)
        except FileNotFoundError:
            return False
        except OSError:
            return False  # a frame arrived meanwhile, or the folder is not ours to remove
    return True


class VersionFolder:
    """The folder a job writes its results into, claimed when the first result is about to be written.

    ``name`` (``v003``) fixes the folder instead: farm tasks deliver into the version their
    prepare task made, and such a folder is never removed.
    """

    def __init__(self, out_dir: str, job_id: str, name: Optional[str] = None) -> None:
        self.out_dir = out_dir
        self.job_id = job_id
        self.named = name is not None
        self.path: Optional[str] = os.path.join(out_dir, name) if name else find_job_version(out_dir, job_id)

    def has(self, file_name: str) -> bool:
        """Whether the job's folder already holds ``file_name`` (False before any claim)."""
        return self.path is not None and os.path.isfile(os.path.join(self.path, file_name))

    def claim(self) -> str:
        """The folder, made now if the job has none yet."""
        if self.named and self.path is not None:
            os.makedirs(self.path, exist_ok=True)
        elif self.path is None or not os.path.isdir(self.path):
            self.path = claim_version(self.out_dir, self.job_id)
        return self.path

    def file(self, file_name: str) -> str:
        """Where ``file_name`` goes; claims the folder."""
        return os.path.join(self.claim(), file_name)

    def release_if_empty(self) -> None:
        """After the job: give the version back if it ended with no frames in it."""
        if self.path is not None and not self.named and release_if_empty(self.path):
            self.path = None


def preview_shot(shot: Shot) -> Shot:
    """Where a quadmask preview goes: ``OUT/quadmask/vNNN/<name>_quadmask.####.exr``, apart from results."""
    output = replace(shot.output, directory=os.path.join(shot.output.directory, PREVIEW_FOLDER),
                     name=shot.output_name + PREVIEW_SUFFIX, mask_layer=False)
    return shot.with_changes(output=output)
