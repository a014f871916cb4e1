"""The shot model validates on construction and round-trips through every format."""
from __future__ import annotations

import json

import msgpack
import pytest

from void_nuke.errors import ShotError
from void_nuke.sequences import FrameRange, SequencePattern
from void_nuke.shapes import ControlPoint, Shape, ShapeKey
from void_nuke.shot import Shot


def base(**over):
    data = {"plate": "/plates/sh010.####.exr", "frames": "1001-1010", "remove": "/plates/rm.%04d.exr",
            "output": "/out/sh010"}
    data.update(over)
    return data


def square(name="box", role="remove", frame=1001):
    pts = [ControlPoint.corner(x, y) for x, y in ((10, 10), (30, 10), (30, 30), (10, 30))]
    return Shape(name, role, (ShapeKey(frame, tuple(pts)),))


@pytest.mark.parametrize("over, field", [
    ({"plate": "/plates/sh010.exr"}, "plate"),
    ({"frames": "1001-1005,1010"}, "frames"),
    ({"frames": "1010-1001x"}, "frames"),
    ({"engine": {"name": "magic"}}, "engine.name"),
    ({"engine": {"steps": 0}}, "engine.steps"),
    ({"engine": {"passes": 3}}, "engine.passes"),
    ({"engine": {"steps": True}}, "engine.steps"),
    ({"masks": {"feather": -1}}, "masks.feather"),
    ({"output": {"directory": "/o", "compression": "jpeg"}}, "output.compression"),
    ({"handles": [-1, 0]}, "handles"),
    ({"remove": [], "shapes": []}, "remove"),
    ({"colour": "x"}, "colour"),
])
def test_invalid_fields_are_named(over, field):
    with pytest.raises(ShotError) as err:
        Shot.from_dict(base(**over))
    assert err.value.field == field
    assert field in str(err.value)


def test_defaults_and_derived_values():
    shot = Shot.from_dict(base(handles=2))
    assert shot.name == "sh010"
    assert shot.process_frames == FrameRange(999, 1012)
    assert shot.output_name == "sh010"
    assert shot.result_name(1001) == "sh010.1001.exr"
    assert [r for r, _ in shot.inputs()] == ["plate", "remove/0"]


@pytest.mark.parametrize("ext", [".toml", ".json", ".yaml"])
def test_file_round_trip_keeps_every_field(tmp_path, ext):
    shot = Shot.from_dict(base(prompt="An empty street.", affected=["/plates/aff.####.exr"],
                               engine={"name": "void", "steps": 30, "seed": 7, "options": {"fps_mode": "12fps"}},
                               prompts={"points": [{"frame": 1003, "x": 5.5, "y": 6.0, "positive": False}]}),
                          ).with_changes(shapes=(square(),))
    path = str(tmp_path / f"shot{ext}")
    shot.save(path)
    assert Shot.load(path) == shot
    assert Shot.from_dict(msgpack.unpackb(msgpack.packb(shot.to_dict()))) == shot
    assert Shot.from_dict(json.loads(json.dumps(shot.to_dict()))).fingerprint() == shot.fingerprint()


@pytest.mark.parametrize("ext", [".toml", ".json", ".yaml"])
def test_the_colour_config_pixel_aspect_and_view_travel_with_the_shot(tmp_path, ext):
    shot = Shot.from_dict(base(ocio_config="/studio/ocio/show.ocio", pixel_aspect=2, view="left"))
    assert (shot.ocio_config, shot.pixel_aspect, shot.view) == ("/studio/ocio/show.ocio", 2.0, "left")
    path = str(tmp_path / f"shot{ext}")
    shot.save(path)
    assert Shot.load(path) == shot
    assert Shot.from_dict(msgpack.unpackb(msgpack.packb(shot.to_dict()))) == shot
    assert shot.with_paths(lambda p: p.replace("/studio", "/mnt/studio")).ocio_config == "/mnt/studio/ocio/show.ocio"
    plain = Shot.from_dict(base()).to_dict()
    assert not {"pixel_aspect", "view", "ocio_config"} & set(plain), "a shot without them writes what it did"


@pytest.mark.parametrize("over, field", [
    ({"pixel_aspect": 0}, "pixel_aspect"), ({"pixel_aspect": -2.0}, "pixel_aspect"),
    ({"pixel_aspect": 11.0}, "pixel_aspect"), ({"pixel_aspect": float("nan")}, "pixel_aspect"),
    ({"pixel_aspect": "2"}, "pixel_aspect"), ({"view": "left/../x"}, "view"), ({"view": 3}, "view"),
])
def test_bad_pixel_aspects_and_views_are_named(over, field):
    with pytest.raises(ShotError) as err:
        Shot.from_dict(base(**over))
    assert err.value.field == field


def test_relative_paths_resolve_against_the_shot_file(tmp_path):
    (tmp_path / "shots").mkdir()
    path = tmp_path / "shots" / "a.toml"
    path.write_text('plate = "plates/a.####.exr"\nframes = "1-3"\nremove = ["m/a.%04d.exr"]\noutput = "out"\n')
    shot = Shot.load(str(path))
    assert shot.plate == str(tmp_path / "shots" / "plates" / "a.####.exr")
    assert shot.remove[0].pattern == str(tmp_path / "shots" / "m" / "a.%04d.exr")
    assert shot.output.directory == str(tmp_path / "shots" / "out")


def test_broken_files_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("plate = [unclosed")
    with pytest.raises(ShotError, match="bad.toml is not valid TOML"):
        Shot.load(str(path))
    (tmp_path / "shot.txt").write_text("plate = 1")
    with pytest.raises(ShotError, match="use a .toml"):
        Shot.load(str(tmp_path / "shot.txt"))


def test_with_inputs_and_paths_rewrite_every_file():
    shot = Shot.from_dict(base(affected=[{"channel": "mask.affected"}]))
    moved = shot.with_inputs({"plate": "/job/plate.%04d.exr", "remove/0": "/job/remove0.%04d.exr"})
    assert moved.plate == "/job/plate.%04d.exr" and moved.remove[0].pattern == "/job/remove0.%04d.exr"
    assert moved.affected[0].pattern is None and moved.affected[0].channel == "mask.affected"
    mapped = shot.with_paths(lambda p: p.replace("/plates", "/mnt/plates").replace("/out", "/mnt/out"))
    assert mapped.plate.startswith("/mnt/plates") and mapped.output.directory == "/mnt/out/sh010"


def test_clicks_outside_the_range_are_refused():
    with pytest.raises(ShotError, match="outside the frame range"):
        Shot.from_dict(base(prompts={"points": [{"frame": 2000, "x": 1, "y": 1}]}))


def test_sequence_patterns_follow_nuke_padding():
    assert SequencePattern("/p/a.####.exr").path(1001) == "/p/a.1001.exr"
    assert SequencePattern("/p/a.#####.exr").path(7) == "/p/a.00007.exr"
    assert SequencePattern("/p/a.%04d.exr").path(12) == "/p/a.0012.exr"
    assert SequencePattern("/p/a.%04d.exr").nuke_pattern() == "/p/a.####.exr"
    with pytest.raises(ShotError, match="no frame number"):
        SequencePattern("/p/a.exr")
    assert list(FrameRange.parse("1001-1003")) == [1001, 1002, 1003]
    with pytest.raises(ShotError, match="gaps"):
        FrameRange.parse("1-3,5")


@pytest.mark.parametrize("name", ["../../../../escaped", "/abs/path", "sub/dir", "win\\dir", "C:name", "..",
                                  ".hidden", "a..b", "tab\there", "n" * 201, " padded"])
def test_output_names_are_plain_file_names(name):
    with pytest.raises(ShotError) as err:
        Shot.from_dict(base(output={"directory": "/out", "name": name}))
    assert err.value.field == "output.name"


def test_the_default_output_name_is_a_plain_file_name_whatever_the_plate_path():
    assert Shot.from_dict(base(plate="Z:\\plates\\sh010\\sh010_bg.####.exr")).output_name == "sh010_bg"
    assert Shot.from_dict(base(plate="/plates/..weird:name.####.exr")).output_name == "_weird_name"
    assert Shot.from_dict(base()).result_name(1001) == "sh010.1001.exr"


@pytest.mark.parametrize("job_id", ["x\n", "x\nrm", "-lead", "a/b", "a" * 65, "", "é"])
def test_job_ids_must_match_as_a_whole(job_id):
    from void_nuke.shot import check_job_id

    with pytest.raises(ShotError, match="not a valid job id"):
        check_job_id(job_id)


@pytest.mark.parametrize("over, words", [
    ({"handles": [0, 300000]}, "300010 frames; one job processes at most 10000"),
    ({"frames": "1-300000"}, "300000 frames"),
    ({"frames": "1-999999999x1"}, "10000-frame limit"),
    ({"frames": "1" * 100}, "limit is 64"),
    ({"prompt": "p" * 5000}, "limit is 4000"),
    ({"remove": ["/m/m.####.exr"] * 17}, "limit is 16"),
    ({"plate": "/p" * 3000 + "/a.####.exr"}, "limit is 4096"),
])
def test_sizes_are_limited_and_the_limit_is_named(over, words):
    with pytest.raises(ShotError, match=words):
        Shot.from_dict(base(**over))


def test_too_many_control_points_are_refused_before_they_are_parsed():
    points = [[1, 1]] * 3
    shapes = [{"name": f"s{i}", "keys": [{"frame": 1001 + k, "points": points * 700} for k in range(10)]}
              for i in range(10)]  # 210,000 points
    with pytest.raises(ShotError, match="210000 control points"):
        Shot.from_dict(base(shapes=shapes))
