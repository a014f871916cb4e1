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


# -- the two codecs: OpenEXR's own bindings where they can, OpenImageIO otherwise ------------------

HEADER_ATTRIBUTES = {
    "void:job_id": "job-1", "void:frame": 1001, "void:strength": 0.25, "nuke/node_hash": "a1b2",
    "DateTime": "2026:01:02 03:04:05", "Copyright": "a studio", "ImageDescription": "plate A001",
    "PixelAspectRatio": 2.0, "ExposureTime": 0.02, "FNumber": 2.8, "screenWindowWidth": 1.5,
    "openexr:lineOrder": "decreasingY",
}


def exr_header(path):
    import OpenEXR

    with OpenEXR.File(path, header_only=True) as f:
        return {k: (str(v) if not isinstance(v, (str, int, float)) else v) for k, v in f.header().items()}


@pytest.mark.parametrize("attributes", [HEADER_ATTRIBUTES, {"cameraName": "A001"}, {"void:seed": 2 ** 40 + 1}],
                         ids=["mapped", "plain-name", "int64"])
@pytest.mark.parametrize("compression", ["zip", "piz", "dwaa", "dwaa:60"])
def test_openexr_and_openimageio_write_the_same_file(tmp_path, monkeypatch, attributes, compression):
    """Whichever codec writes it, a frame reads back with the same pixels, windows and attributes,
    and the file holds the same header names (the bindings map OpenImageIO's names back)."""
    pytest.importorskip("OpenEXR")
    from void_nuke import exrio

    rng = np.random.default_rng(3)
    pixels = rng.standard_normal((20, 30, 4)).astype(np.float16)
    spec = make_spec(30, 20, ("R", "G", "B", "void.mask"), x=-5, y=7, full_width=48, full_height=40,
                     attributes=attributes)
    monkeypatch.setattr(exrio, "USE_OPENEXR", True)
    takes_bindings = exrio._openexr_header(spec, compression) is not None
    assert takes_bindings == ("cameraName" not in attributes and ":" not in compression)
    paths = {}
    for use_openexr in (True, False):
        monkeypatch.setattr(exrio, "USE_OPENEXR", use_openexr)
        paths[use_openexr] = str(tmp_path / f"{use_openexr}.exr")
        write_image(paths[use_openexr], Image(pixels, spec), compression=compression)
    fast, slow = read_image(paths[True]), read_image(paths[False])
    assert fast.pixels.tobytes() == slow.pixels.tobytes()
    assert fast.spec.data_window == slow.spec.data_window == (-5, 7, 30, 20)
    assert fast.spec.display_window == slow.spec.display_window
    assert ({k: v for k, v in fast.spec.attributes.items() if k != "DateTime"}
            == {k: v for k, v in slow.spec.attributes.items() if k != "DateTime"})
    for name, value in attributes.items():
        if name == "void:seed":  # beyond an EXR int: kept exactly, as text
            assert fast.spec.attributes[name] == str(value)
        else:
            assert fast.spec.attributes[name] == pytest.approx(value)
    head_fast, head_slow = exr_header(paths[True]), exr_header(paths[False])
    if "DateTime" not in attributes:
        head_fast.pop("capDate"), head_slow.pop("capDate")
    assert head_fast == head_slow


@pytest.mark.parametrize("channels", [("R", "G", "depth.Z"), ("R", "G", "B"), ("R", "G", "B", "A")])
@pytest.mark.parametrize("requested", [None, "float16", "float32"])
def test_openexr_and_openimageio_decode_the_same_pixels(tmp_path, monkeypatch, requested, channels):
    """Mixed half/float channels, a negative data window, a requested pixel type: the same bits."""
    pytest.importorskip("OpenEXR")
    import OpenEXR
    from void_nuke import exrio

    rng = np.random.default_rng(4)
    planes = {name: rng.standard_normal((9, 13)).astype(np.float16) for name in channels}
    planes["G"] = (rng.standard_normal((9, 13)) * 1e5).astype(np.float32)  # beyond half's range
    planes["G"][0, 0] = np.nan
    expected_z = planes[channels[-1]].astype(np.float32)
    path = str(tmp_path / "mixed.exr")
    OpenEXR.File({"compression": OpenEXR.PIZ_COMPRESSION, "type": OpenEXR.scanlineimage,
                  "dataWindow": ((-4, -2), (8, 6)), "displayWindow": ((0, 0), (19, 9))}, planes).write(path)
    decoded = {}
    for use_openexr in (True, False):
        monkeypatch.setattr(exrio, "USE_OPENEXR", use_openexr)
        decoded[use_openexr] = read_image(path, dtype=requested)
    fast, slow = decoded[True], decoded[False]
    assert fast.spec == slow.spec and fast.spec.dtype == (requested or "float32")
    assert fast.pixels.tobytes() == slow.pixels.tobytes()
    assert fast.channel(channels[-1]).astype(np.float32).tobytes() == (
        expected_z.astype(requested or "float32").astype(np.float32).tobytes())
