"""Deadline 10 job and plugin info files, compared with committed goldens.

Regenerate the goldens after an intended change with
``VOID_UPDATE_GOLDENS=1 pytest tests/farm/test_farm_deadline.py`` and review the diff.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from void_nuke.farm.deadline import quote_arg
from void_nuke.farm.submitter import submit_shots
from void_nuke.shot import Shot

GOLDEN = Path(__file__).resolve().parent / "golden" / "deadline"
UPDATE = os.environ.get("VOID_UPDATE_GOLDENS") == "1"


def _normalised(folder: Path, tmp: Path) -> Dict[str, str]:
    """Every job file (shot files aside) with the temporary folder written as <TMP>."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith("shots/"):
            files[rel] = path.read_bytes().decode("utf-8").replace(str(tmp), "<TMP>")
    return files


def _shots(tmp: Path) -> list:
    return [
        Shot.from_dict({"name": "sh010", "plate": str(tmp / "show" / "sh010" / "plate.####.exr"),
                        "frames": "1001-1400", "remove": str(tmp / "show" / "sh010" / "remove.####.exr"),
                        "output": str(tmp / "show" / "sh010" / "void"), "engine": "classic"}),
        Shot.from_dict({"name": "sh020", "plate": str(tmp / "show" / "sh020" / "plate.#####.exr"),
                        "frames": "1001-1050", "handles": 8, "remove": str(tmp / "show" / "sh020" / "m.####.exr"),
                        "output": {"directory": str(tmp / "show" / "sh020" / "void"), "name": "sh020 clean"},
                        "engine": "void"}),
    ]


def test_deadline_jobs_match_the_goldens(tmp_path: Path) -> None:
    out = tmp_path / "show" / "jobs"
    submit_shots(_shots(tmp_path), "deadline", str(out), version="v004", pool="vfx", group="gpu-a100",
                 cpu_group="cpu", priority=60, quadmask_preview=True, memory_mode="model_offload",
                 model_dir="/opt/void/CogVideoX-Fun-V1.5-5b-InP", cache_dir="/mnt/show/void-cache",
                 path_map=[(str(tmp_path / "show"), "/mnt/show")], suspended=True,
                 executable="/opt/void/bin/void-nuke", timeouts={"prepare": 20, "render": 240, "publish": 10})
    got = _normalised(out, tmp_path)
    if UPDATE:
        for rel, text in got.items():
            target = GOLDEN / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
    want = {p.relative_to(GOLDEN).as_posix(): p.read_bytes().decode("utf-8")
            for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel] == want[rel], f"{rel} differs from its golden (VOID_UPDATE_GOLDENS=1 to regenerate)"


def test_render_job_chunks_follow_the_segments(tmp_path: Path) -> None:
    out = tmp_path / "jobs"
    submit_shots(_shots(tmp_path), "deadline", str(out), version="v001")
    info = dict(line.split("=", 1) for line in (out / "sh010" / "render.job_info.job").read_text().splitlines())
    assert (info["Frames"], info["ChunkSize"]) == ("1001-1400", "134")
    info = dict(line.split("=", 1) for line in (out / "sh020" / "render.job_info.job").read_text().splitlines())
    assert (info["Frames"], info["ChunkSize"]) == ("993-1058", "66")  # handles included, one task (void)
    assert info["OutputFilename0"] == "sh020 clean.#####.exr"
    plugin = (out / "sh010" / "render.plugin_info.job").read_text()
    assert "--shot <AUXFILE0>" in plugin and "--min-gpu-memory 40" in plugin
    assert "Executable=void-nuke" in plugin
    assert "--progress deadline" in plugin  # the CommandLine plugin's progress lines
    assert os.access(out / "submit.sh", os.X_OK)
    info = dict(line.split("=", 1) for line in (out / "sh010" / "prepare.job_info.job").read_text().splitlines())
    assert info["Group"] == "none" and "InitialStatus" not in info  # Deadline's own default group, named


def test_the_shot_file_travels_with_the_jobs_and_its_paths_map_on_the_worker(tmp_path: Path) -> None:
    """Paths are chosen when a task runs: the shot file is an auxiliary file of every job (Deadline copies it
    to the worker) and each task asks the repository's Mapped Paths for its OS."""
    out = tmp_path / "jobs"
    submit_shots(_shots(tmp_path), "deadline", str(out), version="v001")
    for kind in ("prepare", "render", "publish"):
        args = dict(line.split("=", 1) for line in (out / "sh010" / f"{kind}.plugin_info.job").read_text()
                    .splitlines())["Arguments"]
        assert "--shot <AUXFILE0>" in args and args.endswith("--path-mapping-rules deadline")
    assert ("-Job sh010/render.job_info.job sh010/render.plugin_info.job shots/sh010.toml"
            in (out / "submit.sh").read_text())
    farm_shot = Shot.load(str(out / "shots" / "sh010.toml"))
    assert farm_shot.plate == str(tmp_path / "show" / "sh010" / "plate.####.exr")  # the submitter's own


FAKE_DEADLINECOMMAND = """#!/bin/sh
# Stand-in for deadlinecommand -SubmitMultipleJobs: answers as Deadline 10 does (Result= and JobID= lines),
# logs each call, and refuses the shot named in $FAIL_SHOT.
echo "$*" >> "$CALLS"
case "$*" in *"$FAIL_SHOT/"*) echo "Result=Failed"; echo "Error: the plugin is disabled"; exit 1;; esac
for job in prepare render publish; do echo "Result=Success"; echo "JobID=$(date +%s%N)$job"; done
"""


def test_submit_sh_submits_each_shot_once_and_retries_only_the_failed(tmp_path: Path) -> None:
    out = tmp_path / "jobs"
    submit_shots(_shots(tmp_path), "deadline", str(out), version="v001")
    fake = tmp_path / "deadlinecommand"
    fake.write_text(FAKE_DEADLINECOMMAND)
    fake.chmod(0o755)
    env = dict(os.environ, DEADLINE_COMMAND=str(fake), CALLS=str(tmp_path / "calls.txt"), FAIL_SHOT="sh020")
    first = subprocess.run([str(out / "submit.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 1 and "sh020: submission failed" in first.stderr
    assert (out / "sh010" / "submitted.txt").read_text().count("JobID=") == 3
    assert not (out / "sh020" / "submitted.txt").exists()
    env["FAIL_SHOT"] = "nothing"
    again = subprocess.run([str(out / "submit.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "sh010: already submitted" in again.stdout
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert [c.split()[3].split("/")[0] for c in calls] == ["sh010", "sh020", "sh020"]  # sh010 went once
    assert all(c.startswith("-SubmitMultipleJobs -Dependent -Job ") and c.count("-Job ") == 3 for c in calls)


@pytest.mark.parametrize("arg,quoted", [("run", "run"), ("/a b/c.toml", '"/a b/c.toml"'), ('x"y', '"x\\"y"')])
def test_arguments_are_quoted_only_when_needed(arg: str, quoted: str) -> None:
    assert quote_arg(arg) == quoted
