"""Point sampling without OpenCV's size limit (remap refuses maps or images of 32,767 rows or more)."""
from __future__ import annotations

import numpy as np
import pytest

from void_server.engines.sampling import OPENCV_MAX_SIDE, any_tap, sample


def bilinear(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Reference bilinear sampling (edge pixels repeat outside the image), in float64."""
    h, w = image.shape[:2]
    flat = image.reshape(h, w, -1).astype(np.float64)
    x, y = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return ((flat[y0, x0] * (1 - fx) + flat[y0, x1] * fx) * (1 - fy)
            + (flat[y1, x0] * (1 - fx) + flat[y1, x1] * fx) * fy)


@pytest.mark.parametrize("count", [1, 32766, 32767, 32768, 4096 * 4096 + 5])
def test_any_number_of_points_at_and_beyond_the_limit(count):
    rng = np.random.default_rng(count)
    image = rng.random((64, 80, 3)).astype(np.float32)
    xs = rng.uniform(-2, 82, count).astype(np.float32)
    ys = rng.uniform(-2, 66, count).astype(np.float32)
    got = sample(image, xs, ys)
    assert got.shape == (count, 3) and got.dtype == np.float32
    check = slice(None) if count < 100_000 else slice(0, None, 997)  # the big case: spot checks
    # OpenCV's bilinear weights are fixed point (1/32 pixel): a small, bounded difference
    np.testing.assert_allclose(got[check], bilinear(image, xs[check], ys[check]), atol=0.04)


@pytest.mark.parametrize("rows", [OPENCV_MAX_SIDE, OPENCV_MAX_SIDE + 1, 40000])
def test_images_at_and_beyond_opencvs_largest_side(rows):
    rng = np.random.default_rng(rows)
    image = rng.random((rows, 3)).astype(np.float32)  # one channel, taller than OpenCV takes
    ys = rng.uniform(0, rows - 1, 5000).astype(np.float32)
    xs = rng.uniform(0, 2, 5000).astype(np.float32)
    got = sample(image, xs, ys)
    assert got.shape == (5000, 1)
    np.testing.assert_allclose(got, bilinear(image, xs, ys), atol=0.04)


def test_no_points_and_single_channel_images():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert sample(image, np.zeros(0), np.zeros(0)).shape == (0, 1)
    np.testing.assert_allclose(sample(image, np.array([1.5]), np.array([1.0]))[:, 0], [5.5])


def test_any_tap_says_whether_a_bilinear_sample_reads_the_mask():
    mask = np.zeros((5, 6), bool)
    mask[2, 3] = True
    taps = any_tap(mask)
    # a sample at (x, y) reads (floor x, floor y) and the pixels right, below and below-right of it
    assert sorted(zip(*np.nonzero(taps))) == [(1, 2), (1, 3), (2, 2), (2, 3)]
