"""One Qt-free entry point that writes farm jobs for shots: the CLI and Nuke both call it.

    from void_nuke.farm.submitter import submit_shots
    paths = submit_shots(shots, "openjd", "/jobs/void_sh010", per_shot=True, gpu=False)

``options`` are the fields of ``FarmOptions``; ``path_map`` may also be a rules
file path or a list of (source, destination) pairs, and ``timeouts`` a dict of
minutes per task kind.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Sequence

from ..pathmap import PathMap, load_path_map
from ..shot import Shot
from .plan import FarmError, FarmOptions, FarmShot, Timeouts, plan_shots

Writer = Callable[[Sequence[FarmShot], FarmOptions, str], List[str]]


def _writers() -> Dict[str, Writer]:
    from .deadline import write_deadline
    from .opencue import write_opencue
    from .openjd import write_openjd
    return {"openjd": write_openjd, "deadline": write_deadline, "opencue": write_opencue}


FARMS = ("openjd", "deadline", "opencue")


def farm_options(**options: Any) -> FarmOptions:
    """``FarmOptions`` from keyword options, accepting friendlier forms for two of them."""
    path_map = options.get("path_map")
    if isinstance(path_map, str):
        options["path_map"] = load_path_map(path_map)
    elif path_map is None:
        options["path_map"] = PathMap()
    elif not isinstance(path_map, PathMap):
        options["path_map"] = PathMap(path_map)
    if isinstance(options.get("timeouts"), dict):
        options["timeouts"] = Timeouts(**options["timeouts"])
    known = set(FarmOptions.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = sorted(set(options) - known)
    if unknown:
        raise FarmError(f"unknown farm option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return FarmOptions(**options)


def submit_shots(shots: List[Shot], farm: str, out_dir: str, **options: Any) -> List[str]:
    """Write the farm's job files for ``shots`` into ``out_dir``; return the paths written.

    Claims each shot's next version folder unless ``version`` is given. Nothing
    is sent to the farm: submit the files with the farm's own tool (see
    docs/pipeline.md), so the step works the same from Nuke, a shell or a script.
    """
    if farm not in FARMS:
        raise FarmError(f"unknown farm {farm!r}; choose one of {', '.join(FARMS)}")
    opts = farm_options(**options)
    out_dir = os.path.abspath(out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FarmError(f"{out_dir} is not empty; write farm jobs into a new folder")
    planned = plan_shots(shots, opts)
    return _writers()[farm](planned, opts, out_dir)
