"""Input checks before anything is sent: one message naming the frames and the fix."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from void_nuke.demo import make_synthetic_shot
from void_nuke.errors import ImageError
from void_nuke.exrio import Image, make_spec, write_image
from void_nuke.preflight import check_inputs, frame_list, plate_encoding, prepare
from void_nuke.shot import Shot


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    return make_synthetic_shot(str(tmp_path / "shot"), frames=6, size=(32, 20)).shot


def test_frame_lists_are_compressed_ranges() -> None:
    assert frame_list([1021, 1022, 1023, 1030, 1024, 1040, 1041]) == "1021-1024, 1030, 1040-1041"


def test_a_range_beyond_the_files_names_the_frames_and_the_range_that_fits(shot: Shot) -> None:
    wide = shot.with_changes(frames=type(shot.frames)(1001, 1030))
    with pytest.raises(ImageError) as err:
        check_inputs(wide)
    message = err.value.message
    assert message.startswith("plate: 24 frame(s) missing from ")
    assert ": 1007-1030. Render them, or narrow the frame range (on disk: 1001-1006; --frames 1001-1006 fits)." \
        in message
    assert err.value.detail["missing"] == list(range(1007, 1031))


def test_a_missing_matte_frame_is_named_by_its_role(shot: Shot) -> None:
    os.unlink(os.path.join(os.path.dirname(shot.plate), "affected.1003.exr"))
    with pytest.raises(ImageError, match=r"^affected/0: 1 frame\(s\) missing from .*affected\.####\.exr: 1003\. "):
        check_inputs(shot)


def test_padding_that_does_not_match_the_files_is_named_with_the_fix(shot: Shot) -> None:
    folder = os.path.dirname(shot.plate)
    for pattern in ("plate.#####.exr", "plate.%05d.exr"):
        wrong = shot.with_changes(plate=os.path.join(folder, pattern))
        with pytest.raises(ImageError) as err:
            check_inputs(wrong)
        assert err.value.message == (
            f"plate: no file matches {os.path.join(folder, pattern)} (5-digit frame numbers), but "
            f"{os.path.join(folder, 'plate.####.exr')} holds frames 1001-1006 (4 digits). Write it as "
            f"{os.path.join(folder, 'plate.####.exr')} (or %04d).")


def test_handles_reaching_before_the_first_frame_blame_the_handles(shot: Shot) -> None:
    with pytest.raises(ImageError) as err:
        check_inputs(shot.with_changes(handles=(4, 0)))
    assert err.value.message.startswith("handles: the head handles need plate frames 997-1000, but ")
    assert "holds 1001-1006. Lower the handles (--handles" in err.value.message


def test_an_unreadable_frame_never_shows_openimageio_doubled_wording(shot: Shot) -> None:
    path = shot.plate_sequence.path(1004)
    Path(path).write_bytes(b"not an exr")
    with pytest.raises(ImageError) as err:
        check_inputs(shot)
    assert err.value.message.startswith(f"plate: {path} cannot be read (")
    assert err.value.message.count(path) == 1 and "Could not open" not in err.value.message


def test_mattes_must_match_the_plate_format(shot: Shot) -> None:
    path = os.path.join(os.path.dirname(shot.plate), "remove.1002.exr")
    os.unlink(path)
    write_image(path, Image(np.zeros((10, 16, 1), np.float16), make_spec(16, 10, ("A",))))
    with pytest.raises(ImageError, match=r"remove/0: .*remove.1002.exr has format 16x10 but the plate is 32x20"):
        check_inputs(shot)


def _write_plate(folder: Path, ext: str, base: "object", shape: tuple = (20, 32)) -> str:
    import OpenImageIO as oiio

    folder.mkdir(parents=True, exist_ok=True)
    pattern = str(folder / f"plate.####.{ext}")
    values = np.linspace(0.0, 1.0, shape[0] * shape[1] * 3, dtype=np.float32).reshape(shape + (3,))
    for frame in range(1001, 1007):
        path = str(folder / f"plate.{frame}.{ext}")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, oiio.ImageSpec(shape[1], shape[0], 3, base))
        assert out.write_image(values)
        out.close()
    return pattern


def test_jpeg_and_png_plates_take_the_colour_space_their_header_names(shot: Shot, tmp_path: Path) -> None:
    import OpenImageIO as oiio

    for ext in ("jpg", "png"):
        pattern = _write_plate(tmp_path / ext, ext, oiio.UINT8)
        encoding = plate_encoding(pattern.replace("####", "1001"))
        assert not encoding.floating and encoding.bits == 8
        checked = prepare(shot.with_changes(plate=pattern))
        assert checked.shot.colorspace == encoding.colorspace != shot.colorspace
        assert "converts it to scene-linear 'Linear Rec.709 (sRGB)' through OpenColorIO" in checked.notes[0]


def test_an_integer_plate_with_no_colour_space_is_refused_naming_the_flag(shot: Shot, tmp_path: Path) -> None:
    import OpenImageIO as oiio

    pattern = _write_plate(tmp_path / "tif", "tif", oiio.UINT16)
    with pytest.raises(ImageError, match=r"\(16-bit TIFF\) names no colour space in its header.*--colorspace"):
        prepare(shot.with_changes(plate=pattern))
    with pytest.raises(ImageError, match="--colorspace"):
        check_inputs(shot.with_changes(plate=pattern))  # the farm's prepare task refuses it too
    linear = prepare(shot.with_changes(plate=pattern), colorspace_given=True)  # --colorspace 'Linear ...'
    assert "taken as scene-linear" in linear.notes[0]
    given = prepare(shot.with_changes(plate=pattern, colorspace="sRGB Encoded Rec.709 (sRGB)"))
    assert given.shot.colorspace == "sRGB Encoded Rec.709 (sRGB)" and "(as given)" in given.notes[0]
    assert prepare(shot).notes == []  # float EXRs are scene-linear as the shot says
