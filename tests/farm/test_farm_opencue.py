"""OpenCue job specs built with pyoutline and serialised without a Cuebot."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from void_nuke.cli import main
from void_nuke.farm.plan import FarmError
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


def test_names_are_conformed_as_cuebot_does_and_collisions_reported(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "cue"
    shots = [Shot.from_dict({"name": "SH-010", "plate": str(tmp_path / "p.####.exr"), "frames": "1-4",
                             "remove": str(tmp_path / "m.####.exr"), "output": str(tmp_path / "out")})]
    submit_shots(shots, "opencue", str(out), version="v001", per_shot=True, name="Void-Job")
    layers, root = _layers(out / "Void-Job-SH-010.xml")
    assert list(layers) == ["sh_010_prepare", "sh_010_render", "sh_010_publish"]
    assert root.find("job").get("name") == "void_job_sh_010" and root.findtext("shot") == "sh_010"
    assert ("sh_010_render", "sh_010_prepare", "LAYER_ON_LAYER") in [
        (d.findtext("deplayer"), d.findtext("onlayer"), d.get("type")) for d in root.iter("depend")]
    twins = shots + [shots[0].with_changes(name="sh_010")]
    with pytest.raises(FarmError, match=r"same layers: SH-010/sh_010 \(as sh_010\)"):
        submit_shots(twins, "opencue", str(tmp_path / "cue2"), version="v001")
    short = [shots[0].with_changes(name="a")]
    with pytest.raises(FarmError, match="at least 3 characters; 'a' is too short"):
        submit_shots(short, "opencue", str(tmp_path / "cue3"), version="v001", per_shot=True)
    assert not (tmp_path / "cue2").exists() and not (tmp_path / "cue3" / "shots").exists()


def test_environment_os_and_suspended_launch(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "cue"
    submit_shots(_shots(tmp_path), "opencue", str(out), version="v001", suspended=True, memory_mode="fp8",
                 model_dir="/opt/void/model", cache_dir="/shows/cache")
    layers, root = _layers(out / "void.xml")
    job = root.find("job")
    assert (job.findtext("paused"), job.findtext("os")) == ("True", "Linux")
    env = {k.get("name"): k.text for k in job.find("env")}
    assert env == {"VOID_CACHE_DIR": "/shows/cache", "VOID_MEMORY_MODE": "fp8", "VOID_MODEL_DIR": "/opt/void/model"}
    assert layers["sh020_render"].findtext("gpu_memory") == "32g"  # sized for the fp8 memory mode


def test_the_submit_helper_launches_through_pycue_and_reports_an_unreachable_cuebot(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything up to the Cuebot itself: the spec is read and handed to pycue's launchSpecAndWait, which
    connects to CUEBOT_HOSTS, where nothing listens; the failure says so, and nothing is marked launched."""
    opencue = pytest.importorskip("opencue")
    out = tmp_path / "cue"
    submit_shots(_shots(tmp_path), "opencue", str(out), version="v001")
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CUEBOT_HOSTS", f"127.0.0.1:{port}")
    monkeypatch.setattr(opencue.Cuebot, "Timeout", 2000)
    opencue.Cuebot.closeChannel()  # connect afresh, from CUEBOT_HOSTS
    assert main(["farm", "opencue-submit", str(out / "void.xml")]) == 3
    err = capsys.readouterr().err
    assert f"could not launch {out / 'void.xml'} on OpenCue (127.0.0.1:{port})" in err and "CUEBOT_HOSTS" in err
    assert not (out / "void.xml.submitted").exists()
    (out / "void.xml.submitted").write_text("batch-void\n")
    assert main(["farm", "opencue-submit", str(out / "void.xml"), "--cuebot", f"127.0.0.1:{port}"]) == 0
    assert "already launched" in capsys.readouterr().out
    assert "farm opencue-submit void.xml" in (out / "submit.sh").read_text()


GRPC_SEEN = """
import os, sys
from void_nuke.farm.submitter import submit_shots  # noqa: F401  (what the command line loads first)
from void_nuke.farm import opencue as cue
cue.{entry}
assert "grpc" in sys.modules, "gRPC was not loaded: nothing tested"
print(os.environ.get("GRPC_ENABLE_FORK_SUPPORT"))
"""


@pytest.mark.parametrize("entry", ["_outline()", "submit_specs([])"])
@pytest.mark.parametrize("chosen", [None, "true"])
def test_grpc_is_loaded_without_its_fork_handlers_unless_the_user_chose(entry: str, chosen, home: Path) -> None:
    """gRPC's fork handlers now and then abort a child that Python 3.9 (Nuke 14) forks after pycue is loaded."""
    pytest.importorskip("opencue")
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    if chosen:
        env["GRPC_ENABLE_FORK_SUPPORT"] = chosen
    done = subprocess.run([sys.executable, "-c", GRPC_SEEN.format(entry=entry)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == (chosen or "false")
