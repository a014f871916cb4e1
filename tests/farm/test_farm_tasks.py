"""The farm's prepare and publish tasks, and the submitter's options."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from void_nuke.cli import main
from void_nuke.errors import ImageError, VoidError
from void_nuke.exrio import Image, make_spec, write_image
from void_nuke.farm.plan import FarmError
from void_nuke.farm.submitter import farm_options, submit_shots
from void_nuke.farm.tasks import check_inputs, prepare_shot, publish_shot
from void_nuke.pathmap import PathMap
from void_nuke.shot import Shot
from void_nuke.versions import OWNER_FILE

from farmshots import FIRST, H, LAST, W, write_tiny_shot


def _tiny(tmp_path: Path, **extra: object) -> Shot:
    write_tiny_shot(tmp_path / "plates")
    data = {"name": "sh010", "plate": "plates/sh010.####.exr", "frames": f"{FIRST}-{LAST}",
            "remove": "plates/sh010_remove.####.exr", "output": "renders"}
    data.update(extra)
    return Shot.from_dict(data, base_dir=str(tmp_path))


def test_prepare_checks_inputs_and_makes_the_version_folder(tmp_path: Path) -> None:
    shot = _tiny(tmp_path)
    report = prepare_shot(shot, "v003")
    assert report.version_dir == str(tmp_path / "renders" / "v003")
    assert (tmp_path / "renders" / "v003" / OWNER_FILE).is_file()
    assert report.frames == 10 and len(report.inputs) == 2 and report.already_delivered == []
    assert prepare_shot(shot, "v003").version_dir == report.version_dir  # a retry reuses it


def test_prepare_names_missing_frames(tmp_path: Path) -> None:
    shot = _tiny(tmp_path)
    (tmp_path / "plates" / "sh010_remove.1004.exr").unlink()
    with pytest.raises(ImageError, match=r"remove/0: 1 frame\(s\) missing .*1004"):
        prepare_shot(shot, "v001")
    assert not (tmp_path / "renders" / "v001").exists()


def test_prepare_refuses_a_matte_of_another_format(tmp_path: Path) -> None:
    shot = _tiny(tmp_path)
    small = np.zeros((H // 2, W // 2, 1), np.float16)
    path = tmp_path / "plates" / "sh010_remove.1007.exr"
    path.unlink()
    write_image(str(path), Image(small, make_spec(W // 2, H // 2, ("A",))))
    with pytest.raises(ImageError, match=r"sh010_remove.1007.exr has format 12x8 but the plate is 24x16"):
        check_inputs(shot)


def test_prepare_refuses_a_matte_without_its_channel(tmp_path: Path) -> None:
    shot = _tiny(tmp_path, remove={"pattern": "plates/sh010_remove.####.exr", "channel": "R"})
    with pytest.raises(ImageError, match="no channel 'R'"):
        check_inputs(shot)
    shot = _tiny(tmp_path, remove={"channel": "matte"})
    with pytest.raises(ImageError, match="plate has no channel 'matte'"):
        check_inputs(shot)
    assert check_inputs(_tiny(tmp_path, remove={"channel": "A"})) == [shot.plate]


def test_publish_needs_every_frame_then_writes_one_manifest(tmp_path: Path) -> None:
    shot = _tiny(tmp_path)
    version = Path(prepare_shot(shot, "v001").version_dir)
    for frame in range(FIRST, LAST):  # the last frame is missing
        (version / shot.result_name(frame)).write_bytes(b"exr")
    with pytest.raises(VoidError, match=rf"1 of 10 frame\(s\) not delivered .*{LAST}"):
        publish_shot(shot, "v001")
    (version / shot.result_name(LAST)).write_bytes(b"exr")
    manifest = Path(publish_shot(shot, "v001"))
    assert manifest == version / "sh010.publish.json"
    data = json.loads(manifest.read_text())
    assert (data["count"], data["frames"], data["version"]) == (10, f"{FIRST}-{LAST}", "v001")
    assert data["files"] == str(version / "sh010.####.exr")
    assert data["fingerprint"] == shot.fingerprint()
    before = manifest.read_bytes()
    assert publish_shot(shot, "v001") == str(manifest) and manifest.read_bytes() == before
    assert prepare_shot(shot, "v001").already_delivered == list(range(FIRST, LAST + 1))


def test_farm_task_commands_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shot = _tiny(tmp_path)
    shot.save(str(tmp_path / "sh010.toml"))
    assert main(["farm", "prepare", "--shot", str(tmp_path / "sh010.toml"), "--version", "v002"]) == 0
    assert "delivering into" in capsys.readouterr().out
    assert main(["farm", "publish", "--shot", str(tmp_path / "sh010.toml"), "--version", "v002"]) == 1
    assert "10 of 10 frame(s) not delivered" in capsys.readouterr().err
    assert main(["farm", "prepare", "--shot", str(tmp_path / "sh010.toml"), "--version", "2"]) == 1
    assert "must look like v001" in capsys.readouterr().err


def test_submitter_options(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rules]]\nsource = '/a'\ndestination = '/b'\n")
    assert farm_options(path_map=str(rules)).path_map == PathMap([("/a", "/b")])
    assert farm_options(path_map=[("/a", "/b")]).path_map == PathMap([("/a", "/b")])
    assert farm_options(timeouts={"render": 60}).timeouts.render == 60
    with pytest.raises(FarmError, match="unknown farm option"):
        farm_options(chunk=3)
    with pytest.raises(FarmError, match="unknown farm 'tractor'"):
        submit_shots([_tiny(tmp_path)], "tractor", str(tmp_path / "jobs"))


def test_cli_farm_writes_each_kind(tiny_shots: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for farm, expected in (("openjd", "template.yaml"), ("deadline", "submit.sh"), ("opencue", "void.xml")):
        assert main(["farm", farm, str(tiny_shots), "-o", str(tmp_path / farm), "--version", "v001"]) == 0
        assert str(tmp_path / farm / expected) in capsys.readouterr().out.splitlines()
    shot_name = tmp_path / "bad.toml"
    shot_name.write_text(tiny_shots.read_text().replace('name = "sh020"', 'name = "sh 020"'))
    assert main(["farm", "openjd", str(shot_name), "-o", str(tmp_path / "bad")]) == 2
    assert "cannot name farm tasks" in capsys.readouterr().err


def test_a_version_claimed_on_the_farm_is_found_by_every_later_task(tmp_path: Path) -> None:
    """--dry-run writes next-<token>: Prepare claims the next free folder, a retry and Publish find it."""
    shot = _tiny(tmp_path)
    (tmp_path / "renders" / "v001").mkdir(parents=True)  # an earlier delivery, never reused
    with pytest.raises(VoidError, match="its Prepare task claims one"):
        publish_shot(shot, "next-0badc0de")
    report = prepare_shot(shot, "next-0badc0de")
    assert report.version_dir == str(tmp_path / "renders" / "v002")
    assert prepare_shot(shot, "next-0badc0de").version_dir == report.version_dir
    assert prepare_shot(shot, "next-12345678").version_dir == str(tmp_path / "renders" / "v003")
    for frame in range(FIRST, LAST + 1):
        (tmp_path / "renders" / "v002" / shot.result_name(frame)).write_bytes(b"exr")
    manifest = json.loads(Path(publish_shot(shot, "next-0badc0de")).read_text())
    assert manifest["version"] == "v002"


def test_task_commands_map_the_shot_for_this_machine(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The shot file keeps the submitting machine's paths; the session's rules relocate them."""
    shot = _tiny(tmp_path).with_paths(lambda p: p.replace(str(tmp_path), "/studio/show"))
    shot.save(str(tmp_path / "sh010.toml"))
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"version": "pathmapping-1.0", "path_mapping_rules": [
        {"source_path_format": "POSIX", "source_path": "/studio/show", "destination_path": str(tmp_path)}]}))
    argv = ["farm", "prepare", "--shot", str(tmp_path / "sh010.toml"), "--version", "v001"]
    assert main(argv) == 2
    assert "/studio/show/plates/sh010.####.exr" in capsys.readouterr().err
    assert main(argv + ["--path-mapping-rules", f"file://{rules}"]) == 0
    assert (tmp_path / "renders" / "v001").is_dir()
