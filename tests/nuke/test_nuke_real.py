"""The VOID node in a real Nuke (``nuke -t``), when ``NUKE_EXE`` names one; skipped elsewhere.

These are the checks the fake ``nuke`` cannot make about itself: each case
runs in Nuke (``in_nuke/``), and what void-nuke read is compared with what
Nuke rendered (the shapes rasterised by the server against Nuke's own alpha).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
IN_NUKE = Path(__file__).parent / "in_nuke"
NUKE_EXE = os.environ.get("NUKE_EXE")
W, H = 96, 64

pytestmark = [pytest.mark.nuke,
              pytest.mark.skipif(not NUKE_EXE, reason="set NUKE_EXE to a Nuke executable to run this test")]


def _run(script: str, *args: str, prefix: str) -> Dict[str, Any]:
    env = dict(os.environ, NUKE_PATH=str(REPO / "gizmos"))
    env.pop("PYTHONPATH", None)  # Nuke's own Python; gizmos/init.py adds the package
    done = subprocess.run([str(NUKE_EXE), "-t", str(IN_NUKE / script), *args], env=env, capture_output=True,
                          text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith(prefix + " ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[-1][len(prefix) + 1:])


def _nuke_alpha(pattern: str, frame: int) -> np.ndarray:
    """Nuke's rendered alpha over the whole format, top row first."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(pattern.replace("####", f"{frame:04d}"))
    full = oiio.ImageBufAlgo.crop(buf, buf.roi_full)
    pixels = full.get_pixels(oiio.FLOAT)
    return pixels[:, :, list(buf.spec().channelnames).index("A")]


def _ours(result: Dict[str, Any], frame: int) -> np.ndarray:
    from void_nuke.shapes import Shape
    from void_server.raster import rasterize_shapes

    shapes = [Shape.from_dict(s, i) for i, s in enumerate(result["shapes"])]
    return rasterize_shapes(shapes, frame, (0, 0, W, H))


def _same_matte(ours: np.ndarray, nukes: np.ndarray) -> None:
    assert np.abs(ours - nukes).mean() < 0.01, "the shapes' alpha is Nuke's"
    assert ((ours > 0.5) != (nukes > 0.5)).sum() <= 0.01 * max(1, (nukes > 0.5).sum()), "and so is the matte"


def test_void_node_snapshot_in_real_nuke(tmp_path: Path) -> None:
    result = _run("nuke_smoke.py", str(tmp_path / "out"), prefix="VOID_SMOKE")
    assert result["plate_exists"] == [True, True, True] and result["leftovers"] == []
    assert result["points"] == [[10, 22], [30, 22], [30, 12], [10, 12]], "bottom-left turned top-left"
    assert result["inputs"] >= 1 and result["version_knob"] >= 1


@pytest.mark.server
def test_open_splines_are_left_out_and_named(tmp_path: Path) -> None:
    result = _run("nuke_cases.py", "open_spline", str(tmp_path), prefix="VOID_CASE")
    assert [s["name"] for s in result["shapes"]] == ["Both/Square"]
    assert any("open spline Line" in r for r in result["reasons"])
    _same_matte(_ours(result, 1), _nuke_alpha(result["closed_only"], 1))
    x, y = result["line_point"]
    assert _nuke_alpha(result["with_line"], 1)[H - 1 - y, x] > 0, "Nuke draws the open spline as a line"


@pytest.mark.server
@pytest.mark.parametrize("case", ["bspline", "minus", "hidden_layer"])
def test_the_shapes_draw_the_matte_nuke_draws(tmp_path: Path, case: str) -> None:
    result = _run("nuke_cases.py", case, str(tmp_path), prefix="VOID_CASE")
    assert result["reasons"] == []
    for frame in (1, 2):
        _same_matte(_ours(result, frame), _nuke_alpha(result["nuke"], frame))
    if case == "hidden_layer":
        assert _nuke_alpha(result["nuke"], 2).max() == 0 and _ours(result, 2).max() == 0


def test_a_tcl_output_path_is_evaluated(tmp_path: Path) -> None:
    result = _run("nuke_cases.py", "tcl_output", str(tmp_path), prefix="VOID_CASE")
    assert result["output"] == result["expected"] and not result["literal_folder"]


def test_a_stereo_script_sends_one_view_rendered_alone(tmp_path: Path) -> None:
    import OpenImageIO as oiio

    result = _run("nuke_cases.py", "stereo", str(tmp_path), prefix="VOID_CASE")
    assert result["views"] == ["left", "right"] and result["view"] == "right"
    for path in result["frames"]:
        image = oiio.ImageInput.open(path)
        assert image is not None, path
        spec = image.spec()
        assert image.seek_subimage(1, 0) is False, "one part, not a multi-view file"
        assert spec.getattribute("multiView") is None
        image.close()
