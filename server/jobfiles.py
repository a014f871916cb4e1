"""The folder of one job on the server, and how files inside it are named.

::

    <data>/jobs/<job id>/
        shot.json            the shot as submitted (client paths)
        inputs/<role>.####.exr   uploaded frames (pixel transfer)
        work/quadmask/quadmask.####.exr
        work/sam2/sam2.####.exr
        scratch/             engine state shared between work units
        results/<name>.####.exr  finished frames (pixel transfer)
"""
from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Dict

from void_nuke.atomic import atomic_write_bytes


def role_slug(role: str) -> str:
    """``remove/0`` → ``remove0``: a role as a file-name part."""
    return re.sub(r"[^A-Za-z0-9]", "", role)


class JobDir:
    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def create(cls, data_dir: str, job_id: str) -> "JobDir":
        job = cls(os.path.join(data_dir, "jobs", job_id))
        for sub in ("inputs", "work", "scratch", "results"):
            os.makedirs(os.path.join(job.root, sub), exist_ok=True)
        return job

    # -- paths ---------------------------------------------------------------------------
    def input_pattern(self, role: str, padding: int = 4) -> str:
        """Where uploaded frames of ``role`` go; the plate's own padding keeps result names alike."""
        return os.path.join(self.root, "inputs", f"{role_slug(role)}.%0{max(1, padding)}d.exr")

    def work_pattern(self, kind: str) -> str:
        folder = os.path.join(self.root, "work", kind)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"{kind}.%04d.exr")

    @property
    def scratch(self) -> str:
        return os.path.join(self.root, "scratch")

    @property
    def results(self) -> str:
        return os.path.join(self.root, "results")

    # -- state ---------------------------------------------------------------------------
    def save_shot(self, shot_dict: Dict[str, Any]) -> None:
        atomic_write_bytes(os.path.join(self.root, "shot.json"),
                           json.dumps(shot_dict, indent=1).encode(), overwrite=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
