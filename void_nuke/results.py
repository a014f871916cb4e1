"""What a finished run hands back."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List


@dataclass
class RunResult:
    job_id: str
    version_dir: str
    frames: List[int] = field(default_factory=list)
    state: str = "done"
    metadata: Dict[str, Any] = field(default_factory=dict)
    warnings: List[Dict[str, Any]] = field(default_factory=list)
    """``{code, message, detail}`` of things the user should know about a job that still succeeded."""
    pattern: str = ""
    """The delivered files in Nuke's notation: ``OUT/v003/sh010.####.exr``."""
