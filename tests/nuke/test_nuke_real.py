"""The VOID node in a real Nuke (``nuke -t``), when ``NUKE_EXE`` names one; skipped elsewhere."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NUKE_EXE = os.environ.get("NUKE_EXE")

pytestmark = [pytest.mark.nuke,
              pytest.mark.skipif(not NUKE_EXE, reason="set NUKE_EXE to a Nuke executable to run this test")]


def test_void_node_snapshot_in_real_nuke(tmp_path: Path) -> None:
    env = dict(os.environ, NUKE_PATH=str(REPO / "gizmos"))
    env.pop("PYTHONPATH", None)  # Nuke's own Python; gizmos/init.py adds the package
    done = subprocess.run([str(NUKE_EXE), "-t", str(Path(__file__).parent / "in_nuke" / "nuke_smoke.py"),
                           str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("VOID_SMOKE ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    result = json.loads(lines[-1][len("VOID_SMOKE "):])
    assert result["plate_exists"] == [True, True, True] and result["leftovers"] == []
    assert result["points"] == [[10, 22], [30, 22], [30, 12], [10, 12]], "bottom-left turned top-left"
    assert result["inputs"] >= 1 and result["version_knob"] >= 1
