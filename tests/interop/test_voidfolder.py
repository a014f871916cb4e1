"""VOID sequence folders: import to EXR + mattes + shot, export back to mp4s, lossless masks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from void_nuke.display import from_uint8, srgb_to_linear
from void_nuke.errors import VoidError
from void_nuke.exrio import Image, make_spec, read_image, read_matte, write_image
from void_nuke.sequences import FrameRange, SequencePattern
from void_nuke.shapes import PointPrompt, Prompts
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_nuke import cli
from void_nuke import voidfolder as vf

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
LEVELS = np.array([0, 63, 127, 255], np.uint8)


def _quadmasks(n: int, h: int, w: int, seed: int = 0) -> list:
    """Blocky quadmasks holding all four levels (blocks survive an area resize unchanged)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        blocks = LEVELS[rng.integers(0, 4, size=(h // 4 + 1, w // 4 + 1))]
        out.append(np.kron(blocks, np.ones((4, 4), np.uint8))[:h, :w])
    return out


def _make_folder(folder: Path, n: int = 5, h: int = 30, w: int = 42, clicks: bool = True,
                 mask_name: str = vf.QUADMASK_NAME) -> dict:
    yy, xx = np.mgrid[0:h, 0:w]
    video = [np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 40 * i)], 2).astype(np.uint8)
             for i in range(n)]
    masks = _quadmasks(n, h, w)
    folder.mkdir(parents=True)
    vf.write_video(str(folder / vf.VIDEO_NAME), video, 12.0, lossless=False, crf=0)
    if mask_name:
        vf.write_video(str(folder / mask_name), [np.repeat(m[:, :, None], 3, 2) for m in masks], 12.0,
                       lossless=True)
    (folder / vf.PROMPT_NAME).write_text(json.dumps({"bg": "an empty street"}))
    if clicks:
        (folder / vf.CLICKS_NAME).write_text(json.dumps({
            "frame_width": w, "frame_height": h,
            "points_by_frame": {"0": [[3, 4]], "2": [[10, 11], [12, 13]]}}))
    return {"video": list(vf.read_rgb_frames(str(folder / vf.VIDEO_NAME))), "masks": masks}


def test_import_stops_at_the_first_failed_write_and_keeps_what_was_there(tmp_path):
    """Frames are written by a thread pool: an error in one of them still ends the import, raised."""
    _make_folder(tmp_path / "street", n=12)
    taken = tmp_path / "out" / "plate" / "street.1007.exr"
    write_image(str(taken), Image(np.zeros((30, 42, 3), np.float16), make_spec(42, 30, ("R", "G", "B"))))
    with pytest.raises(FileExistsError, match="street.1007.exr"):
        vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"), first_frame=1001)
    assert read_image(str(taken)).pixels.max() == 0  # never overwritten
    assert not (tmp_path / "out" / "mask").exists()  # the mattes were never started


def test_quadmask_rule_round_trips_every_level():
    q = np.array([[0, 63], [127, 255]], np.uint8)
    remove, affected = vf.mattes_from_quadmask(q)
    assert remove.tolist() == [[True, True], [False, False]]
    assert affected.tolist() == [[False, True], [True, False]]
    assert np.array_equal(vf.quadmask_from_mattes(remove, affected), q)
    assert vf.quantise_quadmask(np.array([31, 32, 95, 96, 191, 192])).tolist() == [0, 63, 63, 127, 127, 255]


@pytest.mark.parametrize("size", [(30, 42), (29, 37)])
def test_quadmask_video_decodes_to_exactly_the_written_levels(tmp_path, size):
    masks = _quadmasks(4, *size, seed=3)
    path = str(tmp_path / "q.mp4")
    assert vf.write_video(path, [np.repeat(m[:, :, None], 3, 2) for m in masks], 12.0, lossless=True) == 4
    decoded = list(vf.read_rgb_frames(path))
    assert len(decoded) == 4
    for got, want in zip(decoded, masks):
        for c in range(3):  # VOID reads channel 0; all three must agree anyway
            assert np.array_equal(got[:, :, c], want)
    vf.check_quadmask_video(path, masks)
    with pytest.raises(VoidError, match="does not decode"):
        vf.check_quadmask_video(path, [255 - m for m in masks])


def test_import_writes_linear_plate_mattes_and_shot(tmp_path):
    src = _make_folder(tmp_path / "street")
    result = vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"), first_frame=1001)
    assert result.fps == pytest.approx(12.0)
    shot = Shot.load(result.shot_path)
    assert shot.frames == FrameRange(1001, 1005)
    assert shot.prompt == "an empty street"
    assert shot.colorspace == "Linear Rec.709 (sRGB)"
    assert not shot.prompts, "with a mask in the folder, clicks stay out unless asked for"
    assert shot.masks.clear_affected_first_frame is False and shot.masks.dilate_remove == 0
    plate = SequencePattern(shot.plate)
    for i, frame in enumerate(shot.frames):
        img = read_image(plate.path(frame))
        assert img.spec.channels == ("R", "G", "B") and img.pixels.dtype == np.float16
        want = srgb_to_linear(from_uint8(src["video"][i])).astype(np.float16)
        assert np.array_equal(img.pixels, want)
        remove, _ = read_matte(SequencePattern(shot.remove[0].pattern).path(frame))
        affected, _ = read_matte(SequencePattern(shot.affected[0].pattern).path(frame))
        rebuilt = vf.quadmask_from_mattes(remove > shot.masks.threshold, affected > shot.masks.threshold)
        assert np.array_equal(rebuilt, src["masks"][i])


def test_imported_mattes_rebuild_the_quadmask_through_the_server_builder(tmp_path):
    from void_server import quadmask
    src = _make_folder(tmp_path / "street")
    shot = Shot.load(vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out")).shot_path)
    assert (src["masks"][0] == 127).any(), "frame 0 carries affected pixels, which must survive"
    for i, frame in enumerate(shot.frames):
        remove, _ = read_matte(SequencePattern(shot.remove[0].pattern).path(frame))
        affected, _ = read_matte(SequencePattern(shot.affected[0].pattern).path(frame))
        built = quadmask.build_quadmask([remove], [affected], shot.masks, first_frame=(i == 0))
        assert np.array_equal(built, src["masks"][i])


def test_imported_shot_round_trips_through_export(tmp_path):
    src = _make_folder(tmp_path / "street")
    result = vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"))
    folder = vf.export_void_folder(Shot.load(result.shot_path), str(tmp_path / "back"), fps=12.0)
    assert folder.mask == str(tmp_path / "back" / vf.QUADMASK_NAME)
    assert folder.prompt == "an empty street"
    got = list(vf.read_quadmask_frames(folder.mask))
    assert len(got) == 5 and all(np.array_equal(a, b) for a, b in zip(got, src["masks"]))
    video = list(vf.read_rgb_frames(folder.video))
    assert len(video) == 5 and video[0].shape == (30, 42, 3)
    err = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(video, src["video"])])
    assert err < 3.0


def test_clicks_are_read_as_pixel_centres_on_plate_frames(tmp_path):
    _make_folder(tmp_path / "clicks_only", mask_name="")
    result = vf.import_void_folder(str(tmp_path / "clicks_only"), str(tmp_path / "out"), first_frame=101)
    points = Shot.load(result.shot_path).prompts.points
    assert points == (PointPrompt(101, 3.5, 4.5), PointPrompt(103, 10.5, 11.5), PointPrompt(103, 12.5, 13.5))
    scaled = vf.read_clicks(str(tmp_path / "clicks_only" / vf.CLICKS_NAME), 0, size=(84, 60))
    assert (scaled.points[0].x, scaled.points[0].y) == (7.0, 9.0)


def test_clicks_with_a_mask_only_when_asked(tmp_path):
    _make_folder(tmp_path / "street")
    result = vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"), clicks=True)
    shot = Shot.load(result.shot_path)
    assert len(shot.prompts.points) == 3 and shot.remove


def test_import_never_overwrites(tmp_path):
    _make_folder(tmp_path / "street")
    vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"))
    with pytest.raises(VoidError, match="already exists"):
        vf.import_void_folder(str(tmp_path / "street"), str(tmp_path / "out"))


def test_folder_lookup_follows_void_order_and_names_missing_files(tmp_path):
    with pytest.raises(VoidError, match="input_video.mp4"):
        vf.find_void_folder(str(tmp_path))
    _make_folder(tmp_path / "s", clicks=False, mask_name=vf.SAMPLE_QUADMASK_NAME)
    assert vf.find_void_folder(str(tmp_path / "s")).mask.endswith(vf.SAMPLE_QUADMASK_NAME)
    # VOID prefers quadmask_*.mp4 over the samples' name, and binary mask_*.mp4 over both.
    frames = [np.full((30, 42, 3), 255, np.uint8)] * 5
    vf.write_video(str(tmp_path / "s" / "quadmask_0.mp4"), frames, 12.0, lossless=True)
    assert vf.find_void_folder(str(tmp_path / "s")).mask.endswith("quadmask_0.mp4")
    vf.write_video(str(tmp_path / "s" / "mask_0.mp4"), frames, 12.0, lossless=True)
    found = vf.find_void_folder(str(tmp_path / "s"))
    assert found.mask is None and found.binary_masks[0].endswith("mask_0.mp4")


def test_binary_mask_folder_imports_as_remove_only(tmp_path):
    _make_folder(tmp_path / "b", clicks=False, mask_name="")
    white = np.zeros((30, 42, 3), np.uint8)
    white[5:15, 10:20] = 255
    vf.write_video(str(tmp_path / "b" / "mask_0.mp4"), [white] * 5, 12.0, lossless=True)
    shot = Shot.load(vf.import_void_folder(str(tmp_path / "b"), str(tmp_path / "out")).shot_path)
    remove, _ = read_matte(SequencePattern(shot.remove[0].pattern).path(1003))
    affected, _ = read_matte(SequencePattern(shot.affected[0].pattern).path(1003))
    assert remove[5:15, 10:20].min() == 1.0 and remove.sum() == 100 and affected.max() == 0.0


def _plate_shot(tmp_path: Path, n: int = 3, **changes) -> Shot:
    plate = SequencePattern(str(tmp_path / "plate" / "sh.####.exr"))
    remove = SequencePattern(str(tmp_path / "mask" / "rm.####.exr"))
    for frame in range(1001, 1001 + n):
        rgb = np.full((8, 12, 3), 0.18, np.float16)
        write_image(plate.path(frame), Image(rgb, make_spec(12, 8, ("R", "G", "B"))))
        matte = np.zeros((8, 12, 1), np.float16)
        matte[2:5, 3:7] = 1.0
        write_image(remove.path(frame), Image(matte, make_spec(12, 8, ("A",))))
    fields = dict(plate=plate.pattern, frames=FrameRange(1001, 1000 + n),
                  output=OutputSettings(str(tmp_path / "render")), remove=(MatteSource(remove.pattern),))
    fields.update(changes)
    return Shot(**fields)


def test_export_refuses_shots_it_cannot_rasterise_and_accepts_a_quadmask(tmp_path):
    shot = _plate_shot(tmp_path, prompts=Prompts(points=(PointPrompt(1001, 4.0, 3.0),)))
    with pytest.raises(VoidError, match="--quadmask"):
        vf.export_void_folder(shot, str(tmp_path / "void"))
    qseq = SequencePattern(str(tmp_path / "q" / "q.####.exr"))
    q = _quadmasks(1, 8, 12, seed=5)[0]
    for frame in shot.frames:
        write_image(qseq.path(frame), Image((q / 255.0).astype(np.float16)[:, :, None],
                                            make_spec(12, 8, ("Y",))))
    folder = vf.export_void_folder(shot, str(tmp_path / "void"), quadmask=MatteSource(qseq.pattern))
    assert all(np.array_equal(m, q) for m in vf.read_quadmask_frames(folder.mask))
    with pytest.raises(VoidError, match="already exists"):
        vf.export_void_folder(shot, str(tmp_path / "void"), quadmask=MatteSource(qseq.pattern))


def test_export_places_the_data_window_in_the_display_window(tmp_path):
    shot = _plate_shot(tmp_path, n=1)
    plate = SequencePattern(shot.plate)
    os.remove(plate.path(1001))
    spec = make_spec(4, 2, ("R", "G", "B"), x=5, y=3, full_width=12, full_height=8)
    write_image(plate.path(1001), Image(np.ones((2, 4, 3), np.float16), spec))
    folder = vf.export_void_folder(shot, str(tmp_path / "void"), crf=0)
    frame = next(vf.read_rgb_frames(folder.video))
    assert frame.shape == (8, 12, 3)
    assert frame[3:5, 5:9].min() > 240 and frame[:3].max() < 15 and frame[:, :5].max() < 15


def test_clear_affected_first_frame_applies_on_export(tmp_path):
    affected = SequencePattern(str(tmp_path / "mask" / "af.####.exr"))
    for frame in (1001, 1002):
        write_image(affected.path(frame), Image(np.ones((8, 12, 1), np.float16), make_spec(12, 8, ("A",))))
    shot = _plate_shot(tmp_path, n=2, affected=(MatteSource(affected.pattern),))
    folder = vf.export_void_folder(shot, str(tmp_path / "void"))
    first, second = vf.read_quadmask_frames(folder.mask)
    assert set(np.unique(first)) == {0, 255}  # no affected role on the first frame, as the server builds it
    assert set(np.unique(second)) == {63, 127}


def test_command_line_import_and_export(tmp_path, capsys):
    _make_folder(tmp_path / "street")
    assert cli.main(["import-void", str(tmp_path / "street"), "--out", str(tmp_path / "out"),
                     "--first-frame", "1", "--format", "json"]) == 0
    assert "street.json" in capsys.readouterr().out
    assert cli.main(["export-void", str(tmp_path / "out" / "street.json"), "--out", str(tmp_path / "back")]) == 0
    assert sorted(os.listdir(tmp_path / "back")) == ["input_video.mp4", "prompt.json", "quadmask_0.mp4"]
    assert cli.main(["import-void", str(tmp_path / "street"), "--out", str(tmp_path / "out"),
                     "--first-frame", "1", "--format", "json"]) != 0
    assert "already exists" in capsys.readouterr().err


# -- VOID's own sample folders ---------------------------------------------------------------

def _sample(name: str) -> Path:
    folder = SAMPLES / name
    if not folder.is_dir():
        pytest.skip(f"VOID sample {name} is not available here")
    return folder


def test_bigben_sample_imports_and_exports_its_mask_bit_exactly(tmp_path):
    folder = _sample("BigBen")
    result = vf.import_void_folder(str(folder), str(tmp_path / "out"))
    shot = Shot.load(result.shot_path)
    assert len(shot.frames) == 50 and "river" in shot.prompt
    out = vf.export_void_folder(shot, str(tmp_path / "void"))
    original = list(vf.read_rgb_frames(str(folder / vf.SAMPLE_QUADMASK_NAME)))
    exported = list(vf.read_rgb_frames(out.mask))
    assert len(exported) == 50
    assert all(np.array_equal(a, b) for a, b in zip(original, exported))


def test_ducky_sample_mask_levels_and_clicks():
    folder = _sample("ducky-float")
    found = vf.find_void_folder(str(folder))
    levels = set()
    for q in vf.read_quadmask_frames(found.mask):
        levels |= set(np.unique(q).tolist())
    assert levels == {0, 63, 127, 255}
    prompts = vf.read_clicks(found.clicks, 1001, (1296, 720))
    assert len(prompts.points) == 23
    assert sorted({p.frame for p in prompts.points}) == [1008, 1019, 1037]
    assert all(p.positive and 0 <= p.x < 1296 and 0 <= p.y < 720 for p in prompts.points)
