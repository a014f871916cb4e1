"""OpenCue job specs built with pyoutline and serialised without a Cuebot."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from void_nuke.farm.submitter import submit_shots
from void_nuke.shot import Shot

pytest.importorskip("outline")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway HOME: serialising must not leave an outline session behind anywhere."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _shots(tmp: Path) -> list:
    return [Shot.from_dict({"name": name, "plate": str(tmp / f"{name}.####.exr"), "frames": frames,
                            "remove": str(tmp / f"{name}_m.####.exr"), "output": str(tmp / "out"),
                            "engine": engine})
            for name, frames, engine in (("sh010", "1001-1400", "classic"), ("sh020", "1-20", "void"))]


def _layers(path: Path) -> dict:
    root = ET.fromstring(path.read_text())
    return {layer.get("name"): layer for layer in root.iter("layer")}, root


def test_batch_job_has_three_dependent_layers_per_shot(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "cue"
    written = submit_shots(_shots(tmp_path), "opencue", str(out), version="v002", show="testshow", user="artist",
                           gpu_memory_gb=48, priority=70)
    assert str(out / "void.xml") in written
    layers, root = _layers(out / "void.xml")
    assert root.findtext("show") == "testshow" and root.findtext("user") == "artist"
    assert root.find("job").get("name") == "void" and root.findtext("job/priority") == "70"
    assert list(layers) == ["sh010_prepare", "sh010_render", "sh010_publish",
                            "sh020_prepare", "sh020_render", "sh020_publish"]
    render = layers["sh010_render"]
    assert (render.findtext("range"), render.findtext("chunk")) == ("1001-1400", "134")
    assert render.findtext("cmd") == (f"void-nuke run --shot {out}/shots/sh010.toml --frames "
                                      "'#FRAME_START#-#FRAME_END#' --job-id 'sh010-v002-#FRAME_START#' --version v002")
    assert (render.findtext("gpus"), render.findtext("gpu_memory"), render.findtext("tags")) == ("1", "48g", "gpu")
    assert render.findtext("timeout") == "480"
    assert layers["sh020_render"].findtext("chunk") == "20"  # void engine: one task for the shot
    assert layers["sh010_prepare"].findtext("cmd") == (
        f"void-nuke farm prepare --shot {out}/shots/sh010.toml --version v002")
    assert layers["sh010_prepare"].find("gpus") is None
    depends = [(d.findtext("deplayer"), d.findtext("onlayer"), d.get("type")) for d in root.iter("depend")]
    assert ("sh010_render", "sh010_prepare", "LAYER_ON_LAYER") in depends
    assert ("sh020_publish", "sh020_render", "LAYER_ON_LAYER") in depends
    assert len(depends) == 4
    assert not home.exists() and not (Path(os.path.expanduser("~")) / ".opencue").exists()


def test_per_shot_jobs_without_gpu(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "cue"
    submit_shots(_shots(tmp_path), "opencue", str(out), version="v001", per_shot=True, gpu=False)
    assert sorted(p.name for p in out.glob("*.xml")) == ["void-sh010.xml", "void-sh020.xml"]
    layers, root = _layers(out / "void-sh020.xml")
    assert list(layers) == ["sh020_prepare", "sh020_render", "sh020_publish"]
    assert root.findtext("shot") == "sh020"
    assert layers["sh020_render"].find("gpus") is None and layers["sh020_render"].find("tags") is None
