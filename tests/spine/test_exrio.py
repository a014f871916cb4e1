"""EXR frames keep their bits, windows, channels and metadata; writes are atomic."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from void_nuke.errors import ImageError
from void_nuke.exrio import Image, make_spec, read_image, read_matte, write_image
from void_nuke.versions import claim_version, find_job_version


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip_is_bit_exact_with_windows_and_metadata(tmp_path, dtype):
    rng = np.random.default_rng(1)
    pixels = (rng.standard_normal((30, 40, 5)) * 100).astype(dtype)
    pixels[0, 0, 0] = np.inf if dtype == "float16" else 1e30
    spec = make_spec(40, 30, ("R", "G", "B", "A", "depth.Z"), dtype, x=-3, y=12, full_width=64, full_height=48,
                     attributes={"void:job_id": "job-1", "void:frame": 1001, "void:strength": 0.25})
    path = str(tmp_path / "f.exr")
    write_image(path, Image(pixels, spec))
    back = read_image(path)
    assert back.spec.dtype == dtype
    assert back.spec.data_window == (-3, 12, 40, 30) and back.spec.display_window == (0, 0, 64, 48)
    assert set(back.spec.channels) == set(spec.channels)
    for name in spec.channels:
        a, b = back.channel(name), pixels[:, :, spec.channel_index(name)]
        assert a.tobytes() == b.tobytes()
    assert back.spec.attributes["void:job_id"] == "job-1"
    assert back.spec.attributes["void:frame"] == 1001


def test_never_overwrites_and_leaves_no_temporary_files(tmp_path):
    spec = make_spec(4, 4, ("Y",))
    path = str(tmp_path / "a.exr")
    write_image(path, Image(np.zeros((4, 4, 1), np.float16), spec))
    with pytest.raises(FileExistsError):
        write_image(path, Image(np.ones((4, 4, 1), np.float16), spec))
    assert read_image(path).pixels.max() == 0
    assert os.listdir(tmp_path) == ["a.exr"]


def test_mattes_read_alpha_or_the_only_channel(tmp_path):
    rgba = np.zeros((4, 4, 4), np.float16)
    rgba[..., 3] = 0.5
    write_image(str(tmp_path / "rgba.exr"), Image(rgba, make_spec(4, 4)))
    write_image(str(tmp_path / "y.exr"), Image(np.full((4, 4, 1), 0.25, np.float16), make_spec(4, 4, ("Y",))))
    write_image(str(tmp_path / "rgb.exr"), Image(np.zeros((4, 4, 3), np.float16), make_spec(4, 4, ("R", "G", "B"))))
    assert read_matte(str(tmp_path / "rgba.exr"))[0].max() == 0.5
    assert read_matte(str(tmp_path / "y.exr"))[0].max() == 0.25
    with pytest.raises(ImageError, match="no alpha"):
        read_matte(str(tmp_path / "rgb.exr"))
    with pytest.raises(ImageError, match="cannot open"):
        read_image(str(tmp_path / "missing.exr"))


def test_version_folders_are_claimed_once_and_reused_by_their_job(tmp_path):
    out = str(tmp_path / "out")
    v1 = claim_version(out, "job-a")
    v2 = claim_version(out, "job-b")
    assert os.path.basename(v1) == "v001" and os.path.basename(v2) == "v002"
    assert claim_version(out, "job-a") == v1
    assert find_job_version(out, "job-c") is None
    claimed = []
    threads = [threading.Thread(target=lambda i=i: claimed.append(claim_version(out, f"race-{i}")))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(claimed)) == 8
