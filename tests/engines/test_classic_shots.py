"""The classic engine on shots as they come: through the job runner, at production size, on VOID's samples.

The tabletop scene (``bench/tabletop.py``, shared with the benchmark) is a glass
removed from a wooden table with a lime falling into it inside the affected
matte: the lime must never show in the fill, on any frame, the first included.
VOID's own sample clips go through ``import-void`` and ``run`` at their native
size; every pixel outside the edit region must come back bit for bit.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from void_nuke import cli
from void_nuke.exrio import Image, ImageSpec, make_spec, read_image, write_image
from void_nuke.sequences import FrameRange
from void_nuke.shot import MatteSource, OutputSettings, Shot
from void_server.composite import edit_alpha
from void_server.engines.base import EngineJob
from void_server.engines.classic import ClassicEngine
from void_server.runner import run_shot_local

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from tabletop import LIME, Tabletop  # noqa: E402  (the benchmark's scene, from bench/)

FIRST = 1001


def lime_like(values: np.ndarray) -> np.ndarray:
    """Pixels whose chromaticity is within 0.06 of the lime's (nothing on the table or wall comes near)."""
    chroma = values / np.maximum(values.sum(axis=-1, keepdims=True), 1e-6)
    return np.linalg.norm(chroma - LIME / LIME.sum(), axis=-1) < 0.06


def write_tabletop(folder: Path, scene: Tabletop) -> Shot:
    """The scene as EXR plate, remove (the glass) and affected (the lime) mattes, with default mask settings."""
    folder.mkdir(parents=True)
    rgb = make_spec(scene.width, scene.height, ("R", "G", "B"))
    alpha = make_spec(scene.width, scene.height, ("A",))
    glass = scene.glass_mask().astype(np.float32) / 255
    for i in range(scene.frames):
        frame = FIRST + i
        write_image(str(folder / f"plate.{frame}.exr"), Image(scene.plate(i).astype(np.float16), rgb))
        write_image(str(folder / f"glass.{frame}.exr"), Image(glass.astype(np.float16)[..., None], alpha))
        lime = scene.lime_mask(i, grow=6 * scene.height / 2160).astype(np.float32) / 255
        write_image(str(folder / f"lime.{frame}.exr"), Image(lime.astype(np.float16)[..., None], alpha))
    return Shot(plate=str(folder / "plate.####.exr"), frames=FrameRange(FIRST, FIRST + scene.frames - 1),
                output=OutputSettings(str(folder.parent / "renders"), mask_layer=True),
                remove=(MatteSource(str(folder / "glass.####.exr")),),
                affected=(MatteSource(str(folder / "lime.####.exr")),))


def test_an_object_falling_through_the_affected_region_never_shows_in_the_fill(tmp_path):
    scene = Tabletop(width=480, height=270, frames=10)
    shot = write_tabletop(tmp_path / "shot", scene)
    result = run_shot_local(shot)
    assert result.frames == list(range(FIRST, FIRST + scene.frames))
    lime_pixels = {}
    for i, frame in enumerate(result.frames):
        image = read_image(os.path.join(result.version_dir, shot.result_name(frame)))
        region = scene.quadmask(i) != 255  # what the mattes mark: the glass and the lime
        assert lime_like(scene.plate(i)[region]).sum() > 50  # the lime is in the plate there
        lime_pixels[frame] = int(lime_like(image.rgb()[region]).sum())
    assert lime_pixels == {frame: 0 for frame in result.frames}


@pytest.mark.slow
def test_a_4k_plate_with_a_650000_pixel_region():
    scene = Tabletop(frames=3)
    quadmasks = {FIRST + i: scene.quadmask(i) for i in range(3)}
    plates = {FIRST + i: scene.plate(i) for i in range(3)}
    assert min((q != 255).sum() for q in quadmasks.values()) >= 600_000
    shot = Shot(plate="/plates/table.####.exr", frames=FrameRange(FIRST, FIRST + 2),
                output=OutputSettings("/renders/table"), remove=(MatteSource("/mattes/glass.####.exr"),))
    job = EngineJob(job_id="table", shot=shot, frames=list(plates), spec=ImageSpec(3840, 2160, ("R", "G", "B"),
                                                                                   "float32"),
                    plate=lambda f: plates[f].copy(), quadmask=lambda f: quadmasks[f].copy(), scratch="")
    engine = ClassicEngine()
    margin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for unit in engine.plan(job):
        for frame, rgb in engine.run(job, unit, lambda fraction, message: None):
            region = quadmasks[frame] != 255
            grown = cv2.dilate(region.astype(np.uint8), margin) > 0
            clean = scene.clean(frame - FIRST)
            assert rgb.shape == (2160, 3840, 3) and np.isfinite(rgb).all()
            assert np.array_equal(rgb[~grown], plates[frame][~grown])
            before = np.abs(plates[frame][region] - clean[region]).mean()
            assert np.abs(rgb[region] - clean[region]).mean() < 0.3 * before  # the glass is gone
            assert lime_like(rgb[region]).sum() == 0


# -- VOID's samples at native size ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name, frames", [("BigBen", "1001-1012"), ("ducky-float", "1020-1027"),
                                          ("pillow", "1028-1031")])
def test_void_samples_at_native_size_keep_every_pixel_outside_the_edit_region(shared_dir, tmp_path, name,
                                                                              frames):
    folder = shared_dir / "samples" / name
    if not folder.is_dir():
        pytest.skip(f"the {name} sample is not in ../shared/samples")
    assert cli.main(["import-void", str(folder), "--out", str(tmp_path / "shot")]) == 0
    shot_file = tmp_path / "shot" / f"{name}.toml"
    assert cli.main(["run", "--shot", str(shot_file), "--frames", frames, "--mask-layer", "--engine", "classic",
                     "--out", str(tmp_path / "renders")]) == 0
    shot = Shot.load(str(shot_file))
    version = tmp_path / "renders" / "v001"
    first, last = (int(v) for v in frames.split("-"))
    edited = 0
    for frame in range(first, last + 1):
        result = read_image(str(version / shot.result_name(frame)))
        plate = read_image(shot.plate_sequence.path(frame))
        assert (result.spec.width, result.spec.height) == (plate.spec.width, plate.spec.height)
        q = np.rint(result.channel("void.mask").astype(np.float32) * 255).astype(np.uint8)
        outside = edit_alpha(q, shot.masks.feather) == 0
        edited += int((q != 255).sum())
        for channel in plate.spec.channels:
            assert result.channel(channel)[outside].tobytes() == plate.channel(channel)[outside].tobytes()
        assert np.isfinite(result.rgb()).all()
    assert edited > 0
