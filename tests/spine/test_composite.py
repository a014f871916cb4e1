"""Back to the plate: outside the feathered edit region every bit is the plate's."""
from __future__ import annotations

import numpy as np
import pytest

from void_nuke.exrio import Image, make_spec
from void_server.composite import composite, edit_alpha


def quadmask(h=40, w=60):
    q = np.full((h, w), 255, np.uint8)
    q[10:20, 15:25] = 0
    q[18:24, 22:30] = 127
    return q


def test_alpha_is_one_inside_ramps_outside_and_zero_beyond_the_feather():
    q = quadmask()
    alpha = edit_alpha(q, feather=5.0)
    assert np.all(alpha[q != 255] == 1.0)
    assert alpha[20, 32] > 0  # 2 px right of the affected region
    assert np.all(np.diff(alpha[12, 24:32]) <= 0)  # monotonic fall-off
    assert alpha[12, 30] == 0.0 and alpha[0, 0] == 0.0
    assert np.array_equal(edit_alpha(q, 0.0), (q != 255).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_pixels_beyond_the_feather_and_non_rgb_channels_are_bit_identical(dtype):
    rng = np.random.default_rng(3)
    plate = (rng.random((40, 60, 5)) * 8).astype(dtype)
    plate[0, 0, 0] = 65000 if dtype == "float16" else 1e9  # extreme HDR survives untouched
    spec = make_spec(60, 40, ("R", "G", "B", "A", "depth.Z"), dtype, attributes={"cameraName": "A001"})
    q = quadmask()
    alpha = edit_alpha(q, 4.0)
    engine_rgb = np.zeros((40, 60, 3), np.float32)
    out = composite(Image(plate, spec), engine_rgb, alpha, {"void.mask": q / 255.0}, {"void:job_id": "j"})
    outside = alpha == 0
    assert out.pixels[:, :, :5][outside].tobytes() == plate[outside].tobytes()
    assert out.pixels[:, :, 3:5].tobytes() == np.ascontiguousarray(plate[:, :, 3:5]).tobytes()
    assert np.all(out.pixels[:, :, :3][q != 255] == 0)  # inside: the engine's pixels
    ramp = (alpha > 0) & (alpha < 1)
    assert np.all(out.pixels[:, :, 0][ramp] <= plate[:, :, 0][ramp])  # blended towards the engine
    assert out.spec.channels[-1] == "void.mask" and out.spec.attributes["cameraName"] == "A001"
    assert out.spec.attributes["void:job_id"] == "j"
