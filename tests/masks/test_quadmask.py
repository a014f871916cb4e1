"""The quadmask builder: thresholds, unions, dilation, combination, frame-0 rule, helpers."""
from __future__ import annotations

import numpy as np
import pytest

from void_nuke.errors import ImageError
from void_nuke.shot import MaskSettings
from void_server import modelspace
from void_server.quadmask import (PREVIEW_COLOURS, build_quadmask, mask_layer, quadmask_stats,
                                  quadmask_to_color)


def box(shape, rows, cols, value=1.0) -> np.ndarray:
    matte = np.zeros(shape, np.float32)
    matte[rows, cols] = value
    return matte


def test_combination_rule():
    shape = (8, 12)
    remove = box(shape, slice(0, 8), slice(0, 6))
    affected = box(shape, slice(0, 8), slice(4, 10))
    q = build_quadmask([remove], [affected], MaskSettings(), first_frame=False)
    assert q.dtype == np.uint8 and q.shape == shape
    np.testing.assert_array_equal(q[3], [0, 0, 0, 0, 63, 63, 127, 127, 127, 127, 255, 255])


def test_threshold_is_strictly_above():
    shape = (1, 4)
    remove = np.array([[0.2, 0.5, 0.51, 1.0]], np.float32)
    q = build_quadmask([remove], [], MaskSettings(threshold=0.5), first_frame=False)
    np.testing.assert_array_equal(q, [[255, 255, 0, 0]])
    q = build_quadmask([remove], [], MaskSettings(threshold=0.1), first_frame=False)
    np.testing.assert_array_equal(q, [[0, 0, 0, 0]])
    assert q.shape == shape


def test_sources_of_a_role_are_united():
    shape = (4, 9)
    mattes = [box(shape, slice(None), slice(0, 3)), box(shape, slice(None), slice(6, 9), 0.8)]
    q = build_quadmask(mattes, [], MaskSettings(), first_frame=False)
    np.testing.assert_array_equal(q[0], [0, 0, 0, 255, 255, 255, 0, 0, 0])


def test_remove_dilation_is_a_disc():
    shape = (41, 41)
    remove = box(shape, 20, 20)
    q = build_quadmask([remove], [], MaskSettings(dilate_remove=6), first_frame=False)
    yy, xx = np.mgrid[0:41, 0:41]
    distance = np.hypot(yy - 20, xx - 20)
    inside = q == 0
    assert inside[distance <= 6].all()
    assert not inside[distance > 6.01].any()
    # Affected is not dilated.
    affected = box(shape, 5, 5)
    q = build_quadmask([], [affected], MaskSettings(dilate_remove=6), first_frame=False)
    assert (q == 127).sum() == 1


def test_dilated_remove_over_affected_becomes_overlap():
    shape = (5, 12)
    remove = box(shape, slice(None), slice(0, 4))
    affected = box(shape, slice(None), slice(4, 12))
    q = build_quadmask([remove], [affected], MaskSettings(dilate_remove=2), first_frame=False)
    np.testing.assert_array_equal(q[2], [0, 0, 0, 0, 63, 63, 127, 127, 127, 127, 127, 127])


def test_first_frame_clears_the_affected_role():
    shape = (4, 8)
    remove = box(shape, slice(None), slice(0, 4))
    affected = box(shape, slice(None), slice(2, 6))
    settings = MaskSettings()
    first = build_quadmask([remove], [affected], settings, first_frame=True)
    np.testing.assert_array_equal(first[0], [0, 0, 0, 0, 255, 255, 255, 255])
    later = build_quadmask([remove], [affected], settings, first_frame=False)
    np.testing.assert_array_equal(later[0], [0, 0, 63, 63, 127, 127, 255, 255])
    kept = build_quadmask([remove], [affected], MaskSettings(clear_affected_first_frame=False),
                          first_frame=True)
    np.testing.assert_array_equal(kept, later)


def test_no_mattes_needs_a_size():
    q = build_quadmask([], [], MaskSettings(), first_frame=False, shape=(3, 5))
    assert (q == 255).all() and q.shape == (3, 5)
    with pytest.raises(ImageError, match="shape="):
        build_quadmask([], [], MaskSettings(), first_frame=False)


def test_mismatched_mattes_are_refused():
    with pytest.raises(ImageError, match="differ in size"):
        build_quadmask([np.zeros((4, 4))], [np.zeros((4, 5))], MaskSettings(), first_frame=False)


def test_stats():
    q = np.full((10, 20), 255, np.uint8)
    q[2:4, 5:9] = 0
    q[3, 9] = 63
    q[7, 12:14] = 127
    stats = quadmask_stats(q)
    assert stats["pixels"] == 200
    assert (stats["remove"], stats["overlap"], stats["affected"], stats["keep"]) == (8, 1, 2, 189)
    assert stats["remove_fraction"] == pytest.approx(0.04)
    assert stats["bbox"] == [5, 2, 9, 6]
    assert quadmask_stats(np.full((3, 3), 255, np.uint8))["bbox"] is None


def test_color_preview_and_mask_layer():
    q = np.array([[0, 63, 127, 255]], np.uint8)
    colour = quadmask_to_color(q)
    assert colour.shape == (1, 4, 3) and colour.dtype == np.uint8
    for i, name in enumerate(("remove", "overlap", "affected", "keep")):
        assert tuple(colour[0, i]) == PREVIEW_COLOURS[name]
    assert len({tuple(c) for c in colour[0]}) == 4
    layer = mask_layer(q)
    assert layer.dtype == np.float32
    np.testing.assert_array_equal(layer * 255, [[0, 63, 127, 255]])


def test_helpers_refuse_values_outside_the_classes():
    with pytest.raises(ImageError, match="outside 0, 63, 127, 255"):
        quadmask_stats(np.array([[0, 100]], np.uint8))
    with pytest.raises(ImageError, match="uint8"):
        mask_layer(np.zeros((2, 2), np.float32))


def test_built_quadmask_feeds_model_space():
    # A quadmask built at plate size goes through the model-space path to the four levels.
    shape = (96, 168)
    remove = box(shape, slice(20, 60), slice(20, 80))
    affected = box(shape, slice(40, 90), slice(60, 150))
    q = build_quadmask([remove], [affected], MaskSettings(), first_frame=False)
    mask = modelspace.model_mask(q[None], (48, 84))
    assert set(np.unique(mask).tolist()) == {0.0, float(np.float32(128 / 255)),
                                               float(np.float32(192 / 255)), 1.0}
