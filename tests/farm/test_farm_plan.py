"""Segments, version claims and farm options shared by every farm writer."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from void_nuke.cli import main
from void_nuke.farm.plan import (MAX_SEGMENT_FRAMES, FarmError, FarmOptions, Segment, claimed_on_farm,
                                 plan_segments, plan_shots)
from void_nuke.pathmap import PathMap
from void_nuke.sequences import FrameRange
from void_nuke.shot import Shot


def _shot(name: str, frames: str, engine: str, out: str, handles: int = 0) -> Shot:
    return Shot.from_dict({"name": name, "plate": f"/plates/{name}.####.exr", "frames": frames,
                           "handles": handles, "remove": f"/plates/{name}_m.####.exr", "output": out,
                           "engine": engine})


@pytest.mark.parametrize("first,last,segment_frames", [
    (1001, 1197, 197), (1001, 1198, 197), (1001, 1400, 197), (1, 1000, 197), (1001, 1010, 8), (5, 6, 2),
])
def test_segments_cover_the_range_once_in_uniform_chunks(first: int, last: int, segment_frames: int) -> None:
    segments = plan_segments(FrameRange(first, last), segment_frames)
    frames = [f for s in segments for f in s.frames]
    assert frames == list(range(first, last + 1))
    assert all(len(s) == len(segments[0]) for s in segments[:-1])
    assert 0 < len(segments[-1]) <= len(segments[0])
    if last - first + 1 <= segment_frames:
        assert segments == [Segment(first, last)]
    else:  # room for the engine's 16-frame overlap around every core
        assert len(segments[0]) <= segment_frames - min(16, segment_frames // 4)


def test_long_shots_are_split_evenly() -> None:
    segments = plan_segments(FrameRange(1001, 1400))
    assert [len(s) for s in segments] == [134, 134, 132]


def test_void_engine_gets_one_task_and_classic_gets_segments(tmp_path: Path) -> None:
    shots = [_shot("v", "1001-1400", "void", str(tmp_path / "o")),
             _shot("c", "1001-1400", "classic", str(tmp_path / "o"))]
    v, c = plan_shots(shots, FarmOptions(version="v002"))
    assert v.segments == (Segment(1001, 1400),)
    assert len(c.segments) == 3 and c.chunk_size == 134
    v, c = plan_shots(shots, FarmOptions(version="v002", tasks_per_shot="segments"))
    assert len(v.segments) == 3
    v, c = plan_shots(shots, FarmOptions(version="v002", tasks_per_shot="1"))
    assert c.segments == (Segment(1001, 1400),)
    assert c.job_id_prefix == "c-v002"


def test_handles_fold_into_the_farm_range(tmp_path: Path) -> None:
    (fs,) = plan_shots([_shot("h", "1001-1010", "classic", str(tmp_path), handles=4)], FarmOptions(version="v001"))
    assert str(fs.shot.frames) == "997-1014" and fs.shot.handles == (0, 0)
    assert fs.segments == (Segment(997, 1014),)


def test_versions_are_claimed_per_shot_and_never_shared(tmp_path: Path) -> None:
    out = str(tmp_path / "renders")
    shots = [_shot("a", "1-4", "classic", out), _shot("b", "1-4", "classic", str(tmp_path / "b"))]
    first = plan_shots(shots, FarmOptions())
    second = plan_shots(shots, FarmOptions())
    assert [fs.version for fs in first] == ["v001", "v001"]
    assert [fs.version for fs in second] == ["v002", "v002"]
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["v001", "v002"]
    fixed = plan_shots(shots, FarmOptions(version="v007"))
    assert [fs.version for fs in fixed] == ["v007", "v007"]
    assert not (tmp_path / "renders" / "v007").exists()  # the prepare task makes it


def test_farm_paths_are_mapped_and_windows_paths_the_rules_miss_refused() -> None:
    shot = Shot.from_dict({"name": "w", "plate": "Z:\\shows\\w\\plate.####.exr", "frames": "1-4",
                           "remove": "Y:\\mattes\\m.####.exr", "output": "Z:\\shows\\w\\out"})
    rules = PathMap([("Z:\\shows", "/mnt/shows"), ("Y:\\mattes", "/mnt/mattes")])
    (fs,) = plan_shots([shot], FarmOptions(version="v001", path_map=rules))
    assert fs.shot.plate == "/mnt/shows/w/plate.####.exr"
    assert fs.shot.output.directory == "/mnt/shows/w/out"
    with pytest.raises(FarmError, match=r"no path-mapping rule covers 'Y:\\\\mattes.*linux workers"):
        plan_shots([shot], FarmOptions(version="v001", path_map=PathMap([("Z:\\shows", "/mnt/shows")])))
    # Windows workers can open it; without rules the farm maps the paths when a task runs
    (fs,) = plan_shots([shot], FarmOptions(version="v001", os_family="windows",
                                           path_map=PathMap([("Z:\\shows", "W:\\shows")])))
    assert fs.shot.remove[0].pattern == "Y:\\mattes\\m.####.exr"
    (fs,) = plan_shots([shot], FarmOptions(version="v001"))
    assert fs.shot.plate == "Z:\\shows\\w\\plate.####.exr"


@pytest.mark.skipif(os.name == "nt", reason="a Windows output folder is this host's own there")
def test_a_version_is_claimed_where_this_machine_sees_the_output_never_literally(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Windows output folder read on Linux: claimed under the rules' mount, or refused; never a
    folder named 'Z:\\shows\\...' in the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.toml").write_text(
        "[[shots]]\nname = 'sh010'\nplate = 'Z:\\shows\\abc\\sh010\\plate.####.exr'\nframes = '1-4'\n"
        "remove = 'Z:\\shows\\abc\\sh010\\m.####.exr'\noutput = 'Z:\\shows\\abc\\sh010\\renders'\n")
    (tmp_path / "rules.toml").write_text(f"[[rules]]\nsource = 'Z:\\shows'\ndestination = '{tmp_path}/mnt'\n")
    assert main(["farm", "deadline", "list.toml", "-o", "jobs", "--path-map", "rules.toml"]) == 0
    assert (tmp_path / "mnt" / "abc" / "sh010" / "renders" / "v001").is_dir()
    assert main(["farm", "deadline", "list.toml", "-o", "jobs2"]) != 0
    assert main(["farm", "deadline", "list.toml", "-o", "jobs3", "--dry-run"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs", "jobs3", "list.toml", "mnt", "rules.toml"]


def test_dry_run_leaves_the_output_alone_and_prepare_claims_on_the_farm(tmp_path: Path) -> None:
    shots = [_shot("a", "1-4", "classic", str(tmp_path / "renders"))]
    (fs,) = plan_shots(shots, FarmOptions(dry_run=True))
    assert fs.version.startswith("next-") and claimed_on_farm(fs.version)
    assert fs.job_id_prefix == f"a-{fs.version}"
    assert not (tmp_path / "renders").exists()
    (again,) = plan_shots(shots, FarmOptions(dry_run=True))
    assert again.version != fs.version  # each submission claims its own folder on the farm


def test_bad_options_and_shots_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FarmError, match="tasks per shot"):
        FarmOptions(tasks_per_shot="4")
    with pytest.raises(FarmError, match="segment frames"):
        FarmOptions(segment_frames=MAX_SEGMENT_FRAMES + 1)
    with pytest.raises(FarmError, match="v001"):
        FarmOptions(version="7")
    with pytest.raises(FarmError, match="job name"):
        FarmOptions(name="my job")
    with pytest.raises(FarmError, match="unique"):
        plan_shots([_shot("a", "1-2", "classic", str(tmp_path))] * 2, FarmOptions(version="v001"))
    with pytest.raises(FarmError, match="no shots"):
        plan_shots([], FarmOptions())
