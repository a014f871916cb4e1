"""JPEG, PNG and TIFF plates: converted from their own colour space to scene-linear, or refused."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from void_nuke.demo import make_synthetic_shot
from void_nuke.display import linear_to_srgb, srgb_to_linear
from void_nuke.exrio import read_image

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]
pytestmark = pytest.mark.server


def _integer_plate(tmp_path: Path, ext: str, base: str) -> "tuple[str, object, dict]":
    """The synthetic shot's plate written by OpenImageIO as sRGB-encoded integers."""
    import OpenImageIO as oiio

    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=4, size=(96, 56))
    shot = synthetic.shot
    encoded = {}
    for frame in shot.process_frames:
        linear = read_image(shot.plate_sequence.path(frame)).rgb()
        values = np.clip(linear_to_srgb(linear), 0.0, 1.0)
        path = str(tmp_path / "shot" / f"plate.{frame}.{ext}")
        out = oiio.ImageOutput.create(path)
        spec = oiio.ImageSpec(96, 56, 3, getattr(oiio, base))
        if ext == "jpg":
            spec.attribute("Compression", "jpeg:100")
        assert out.open(path, spec) and out.write_image(values)
        out.close()
        encoded[frame] = read_image(path).rgb()  # what the file really holds, after quantising
    return str(tmp_path / "shot" / f"plate.####.{ext}"), shot, encoded


def _flags(shot, plate: str, out: Path) -> list:
    return ["--plate", plate, "--frames", str(shot.frames), "--remove", shot.remove[0].pattern,
            "--out", str(out), "--name", "sh010"]


def _outside(result_path: str) -> np.ndarray:
    from void_server.composite import edit_alpha

    result = read_image(result_path)
    q = np.rint(result.channel("void.mask").astype(np.float32) * 255).astype(np.uint8)
    return edit_alpha(q, 8.0) == 0


@pytest.mark.parametrize("ext,base", [("jpg", "UINT8"), ("png", "UINT16")])
def test_an_srgb_plate_is_converted_to_scene_linear_and_the_cli_says_so(tmp_path, ext, base):
    plate, shot, encoded = _integer_plate(tmp_path, ext, base)
    result = subprocess.run(VOID_NUKE + ["run", *_flags(shot, plate, tmp_path / "out"), "--mask-layer"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "the server converts it to scene-linear 'Linear Rec.709 (sRGB)' through OpenColorIO" in result.stderr
    for frame in shot.process_frames:
        path = str(tmp_path / "out" / "v001" / f"sh010.{frame}.exr")
        image = read_image(path)
        outside = _outside(path)
        expected = srgb_to_linear(encoded[frame])[outside]
        assert np.allclose(image.rgb()[outside], expected, atol=2e-3)  # linear, not the encoded values
        assert not np.allclose(image.rgb()[outside], encoded[frame][outside], atol=2e-2)
        attrs = image.spec.attributes
        assert attrs["void:colorspace"] == "Linear Rec.709 (sRGB)" and attrs["void:plate_colorspace"]
        assert attrs["void:source_file"] == f"plate.{frame}.{ext}"


def test_a_jpeg_plate_through_a_server_lands_linear_too(tmp_path, server):
    plate, shot, encoded = _integer_plate(tmp_path, "jpg", "UINT8")
    result = subprocess.run(VOID_NUKE + ["submit", *_flags(shot, plate, tmp_path / "out"), "--mask-layer",
                                         "--server", server.address], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    frame = shot.frames.first
    path = str(tmp_path / "out" / "v001" / f"sh010.{frame}.exr")
    outside = _outside(path)
    assert np.allclose(read_image(path).rgb()[outside], srgb_to_linear(encoded[frame])[outside], atol=2e-3)


def test_a_tiff_without_a_colour_space_is_refused_until_one_is_named(tmp_path):
    plate, shot, encoded = _integer_plate(tmp_path, "tif", "UINT16")
    refused = subprocess.run(VOID_NUKE + ["run", *_flags(shot, plate, tmp_path / "out")],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--colorspace" in refused.stderr and "16-bit TIFF" in refused.stderr
    assert not os.path.exists(tmp_path / "out")
    named = subprocess.run(VOID_NUKE + ["run", *_flags(shot, plate, tmp_path / "out"), "--colorspace",
                                        "sRGB Encoded Rec.709 (sRGB)"], capture_output=True, text=True, timeout=300)
    assert named.returncode == 0, named.stderr
    image = read_image(str(tmp_path / "out" / "v001" / f"sh010.{shot.frames.first}.exr"))
    assert image.spec.attributes["void:plate_colorspace"] == "sRGB Encoded Rec.709 (sRGB)"


def test_a_shot_file_naming_the_default_colour_space_still_converts_a_jpeg(tmp_path):
    plate, shot, encoded = _integer_plate(tmp_path, "jpg", "UINT8")
    shot_file = tmp_path / "sh010.toml"
    shot.with_changes(plate=plate).save(str(shot_file))  # a saved shot always holds colorspace
    assert 'colorspace = "Linear Rec.709 (sRGB)"' in shot_file.read_text()
    result = subprocess.run(VOID_NUKE + ["run", "--shot", str(shot_file), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "converts it to scene-linear" in result.stderr, result.stderr
    prepare = subprocess.run(VOID_NUKE + ["farm", "prepare", "--shot", str(shot_file), "--version", "v009"],
                             capture_output=True, text=True, timeout=300)
    assert prepare.returncode == 0, prepare.stderr
