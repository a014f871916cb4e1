"""Versioned result folders: ``OUT/v001``, ``OUT/v002``... never reused.

A version folder is claimed with ``os.mkdir`` (atomic: two clients racing get
different versions). A marker file names the job that owns it, so a client
re-attaching to the same job continues in the same folder.
"""
from __future__ import annotations

import os
import re
from typing import List, Optional

_VERSION = re.compile(r"^v(\d{3,})$")
OWNER_FILE = ".void-job"


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


def claim_version(out_dir: str, job_id: str) -> str:
    """Return the job's version folder, creating the next free ``vNNN`` if it has none."""
    existing = find_job_version(out_dir, job_id)
    if existing:
        return existing
    os.makedirs(out_dir, exist_ok=True)
    number = (list_versions(out_dir) or [0])[-1] + 1
    while True:
        path = os.path.join(out_dir, version_name(number))
        try:
            os.mkdir(path)
        except FileExistsError:
            number += 1
            continue
        from .atomic import atomic_write_bytes
        atomic_write_bytes(os.path.join(path, OWNER_FILE), job_id.encode("utf-8"))
        return path
