"""Deadline 10 job and plugin info files, compared with committed goldens.

Regenerate the goldens after an intended change with
``VOID_UPDATE_GOLDENS=1 pytest tests/farm/test_farm_deadline.py`` and review the diff.
"""
from __future__ import annotations

import os
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
                 priority=60, quadmask_preview=True, path_map=[(str(tmp_path / "show"), "/mnt/show")],
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
    assert f"--shot {out}/shots/sh010.toml" in plugin
    assert "Executable=void-nuke" in plugin
    assert os.access(out / "submit.sh", os.X_OK)


def test_path_mapping_applies_to_the_shot_file_the_farm_reads(tmp_path: Path) -> None:
    out = tmp_path / "jobs"
    submit_shots(_shots(tmp_path), "deadline", str(out), version="v001", path_map=[(str(tmp_path), "/farm")])
    assert "--shot /farm/jobs/shots/sh010.toml" in (out / "sh010" / "prepare.plugin_info.job").read_text()
    farm_shot = Shot.load(str(out / "shots" / "sh010.toml"))
    assert farm_shot.plate == "/farm/show/sh010/plate.####.exr"
    assert farm_shot.output.directory == "/farm/show/sh010/void"


@pytest.mark.parametrize("arg,quoted", [("run", "run"), ("/a b/c.toml", '"/a b/c.toml"'), ('x"y', '"x\\"y"')])
def test_arguments_are_quoted_only_when_needed(arg: str, quoted: str) -> None:
    assert quote_arg(arg) == quoted
