"""The numpy model-space preprocessing against the reference's rules (spec §3, §4.2)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from void_server import modelspace as ms


def torch_area(frames: np.ndarray, size) -> np.ndarray:
    """What the reference computes: interpolate(mode='area') over (C, T, H, W) / (1, T, H, W)."""
    t = torch.from_numpy(frames)
    if frames.ndim == 4:  # (T, H, W, C) -> (C, T, H, W), as the reference arranges video
        out = F.interpolate(t.permute(3, 0, 1, 2), size=size, mode="area").permute(1, 2, 3, 0)
    else:
        out = F.interpolate(t.unsqueeze(0), size=size, mode="area")[0]
    return out.numpy()


@pytest.mark.parametrize("shape,size", [
    ((2, 96, 168), (48, 84)),            # integer ratio 2
    ((2, 100, 130), (37, 51)),           # non-integer both ways
    ((1, 360, 544), (384, 672)),         # enlarging (a BigBen-size plate)
    ((3, 270, 480, 3), (384, 672)),      # enlarging with channels
    ((2, 1080, 1920, 3), (384, 672)),    # non-integer shrink with channels
    ((1, 2160, 3840, 3), (384, 672)),    # a 4K frame
])
def test_area_resize_is_bit_identical_to_torch(shape, size):
    rng = np.random.default_rng(7)
    frames = rng.random(shape, dtype=np.float32)
    ours = ms.area_resize(frames, size)
    assert ours.dtype == np.float32
    assert ours.shape == shape[:1] + tuple(size) + shape[3:]
    np.testing.assert_array_equal(ours, torch_area(frames, size))


@pytest.mark.parametrize("shape", [(2, 1080, 1920), (2, 720, 1296), (3, 217, 301), (1, 2160, 3840)])
def test_area_resize_of_random_quadmasks_is_bit_identical_to_torch(shape):
    """Random four-value masks: every resized value, and so every class, is torch's.
    (At 1080p about 280 windows average to exactly 31, 95 or 191, where an ulp decides the class.)"""
    rng = np.random.default_rng(3)
    q = rng.choice(np.array([0, 63, 127, 255], dtype=np.uint8), size=shape)
    ref = torch_area(q.astype(np.float32), (384, 672))
    ours = ms.area_resize(q, (384, 672))
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ms.quantize_quadmask(ours), ms.quantize_quadmask(ref))


@pytest.mark.parametrize("target", [31, 95, 191])
def test_windows_averaging_exactly_onto_a_threshold_keep_their_class(target):
    """Every 3x3 window of a 1152x2016 mask sums to exactly 9 x ``target`` (random values otherwise):
    torch's area resize gives exactly ``target`` everywhere, which quantises to the lower class
    (the thresholds are inclusive). A resize that rounds in between (pooling rows, then columns)
    lands an ulp above on some windows and flips them into the next class."""
    rng = np.random.default_rng(target)
    # each window: target, and four pairs target + a, target - a, shuffled
    spread = rng.integers(0, min(target, 255 - target) + 1, size=(384, 672, 4))
    windows = np.concatenate([target + spread, target - spread, np.full((384, 672, 1), target)], axis=-1)
    windows = np.take_along_axis(windows, rng.permuted(np.tile(np.arange(9), (384, 672, 1)), axis=-1), axis=-1)
    q = windows.reshape(384, 672, 3, 3).transpose(0, 2, 1, 3).reshape(1, 1152, 2016).astype(np.uint8)
    ref = torch_area(q.astype(np.float32), (384, 672))
    assert (ref == target).all()
    ours = ms.area_resize(q, (384, 672))
    np.testing.assert_array_equal(ours, ref)
    below = {31: 0, 95: 63, 191: 127}[target]
    assert (ms.quantize_quadmask(ours) == below).all()
    # the float path (no integer shortcut) gives the same
    np.testing.assert_array_equal(ms.area_resize(q.astype(np.float32), (384, 672)), ref)


def test_model_mask_of_a_4k_clip_matches_the_reference_class_for_class():
    """A synthetic 4K quadmask clip (a moving object, its affected ring, an overlap band), through
    the reference's torch resize and thresholds, and through ours: identical model masks."""
    yy, xx = np.mgrid[0:2160, 0:3840]
    frames = []
    for t in range(4):
        q = np.full((2160, 3840), 255, dtype=np.uint8)
        r = np.hypot(yy - 1000.5 - 7.3 * t, xx - 1700.25 - 13.1 * t)
        q[r < 420] = 127
        q[r < 300] = 0
        q[(r >= 300) & (r < 311)] = 63
        frames.append(q)
    clip = np.stack(frames)
    ref = torch_area(clip.astype(np.float32), (384, 672))
    ref_classes = np.select([ref <= 31, ref <= 95, ref <= 191], [0, 63, 127], 255).astype(np.uint8)
    expected = (255 - ref_classes).astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(ms.model_mask(clip), expected)


def test_area_resize_same_size_returns_a_copy():
    frames = np.ones((1, 4, 6), dtype=np.float32)
    out = ms.area_resize(frames, (4, 6))
    out[...] = 0
    assert frames.min() == 1.0


def test_area_resize_rejects_bad_shapes():
    with pytest.raises(ValueError, match="T, H, W"):
        ms.area_resize(np.zeros((4, 6)), (2, 3))


def test_quantize_quadmask_thresholds():
    values = np.array([0, 31, 31.01, 63, 95, 95.5, 127, 191, 191.2, 255])
    np.testing.assert_array_equal(ms.quantize_quadmask(values),
                                  [0, 0, 63, 63, 63, 127, 127, 127, 255, 255])
    assert ms.quantize_quadmask(values).dtype == np.uint8


def test_model_mask_class_values_after_inversion():
    # Constant frames of each class survive the resize untouched, then invert.
    frames = np.stack([np.full((8, 14), v, dtype=np.uint8) for v in (0, 63, 127, 255)])
    mask = ms.model_mask(frames, (4, 7))
    assert mask.dtype == np.float32
    expected = np.array([1.0, 192 / 255, 128 / 255, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(mask[:, 0, 0], expected)
    for t in range(4):
        assert np.unique(mask[t]).size == 1


def test_model_mask_puts_a_ring_around_a_hard_remove_edge():
    # 10 px -> 3 px: output column j averages input columns [floor(10j/3), ceil(10(j+1)/3)),
    # so column 1 averages input columns 3..6. Moving the object's (0) right edge across
    # that window makes column 1 a mix that no input pixel had: affected, then overlap.
    def edge(object_columns: int) -> np.ndarray:
        q = np.full((1, 3, 10), 255, dtype=np.uint8)
        q[:, :, :object_columns] = 0
        return q

    assert ms.area_resize(edge(5), (3, 3))[0, 0, 1] == pytest.approx(127.5)
    np.testing.assert_allclose(ms.model_mask(edge(5), (3, 3))[0, 0], [1.0, 128 / 255, 0.0], atol=1e-7)
    assert ms.area_resize(edge(6), (3, 3))[0, 0, 1] == pytest.approx(63.75)
    np.testing.assert_allclose(ms.model_mask(edge(6), (3, 3))[0, 0], [1.0, 192 / 255, 0.0], atol=1e-7)
    # Three quarters keep in the window stays keep: 191.25 > 191.
    np.testing.assert_allclose(ms.model_mask(edge(4), (3, 3))[0, 0], [1.0, 0.0, 0.0], atol=1e-7)


def test_model_mask_ring_on_a_disc_at_model_resolution():
    # A 4x downscaled hard disc: the edge pixels that mix object and background
    # must show affected and overlap classes even though the input had neither.
    yy, xx = np.mgrid[0:384 * 4, 0:672 * 4]
    disc = (yy - 700.3) ** 2 + (xx - 1300.7) ** 2 < 400.0 ** 2
    q = np.where(disc, 0, 255).astype(np.uint8)[None]
    mask = ms.model_mask(q)
    values = set(np.unique(mask).tolist())
    assert values == {0.0, float(np.float32(128 / 255)), float(np.float32(192 / 255)), 1.0}
    ring = (mask > 0) & (mask < 1)
    core = mask == 1.0
    # The ring is thin: at most one pixel wide around the core, i.e. much smaller.
    assert 0 < ring.sum() < 0.1 * core.sum()


@pytest.mark.parametrize("length,padded", [
    (1, 85), (46, 85), (85, 85), (86, 93), (90, 93), (93, 93), (100, 101), (101, 101),
    (120, 125), (150, 157), (180, 181), (196, 197), (197, 197), (250, 197),
])
def test_padded_length_table(length, padded):
    assert ms.padded_length(length) == padded


def test_padded_length_always_gives_an_even_latent_count():
    for length in range(1, 260):
        p = ms.padded_length(length)
        assert p % 8 == 5 and ms.latent_frames(p) % 2 == 0


def test_latent_frames():
    assert [ms.latent_frames(p) for p in (85, 93, 101, 197)] == [22, 24, 26, 50]


def test_mirror_pad_pattern():
    frames = np.arange(5)[:, None] * np.ones((1, 2))
    out = ms.mirror_pad(frames, 13)
    assert out.shape == (13, 2)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 1, 2])


def test_mirror_pad_repeats_past_two_lengths_and_cuts():
    out = ms.mirror_pad(np.arange(3), 20)
    np.testing.assert_array_equal(out, [0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1])
    np.testing.assert_array_equal(ms.mirror_pad(np.arange(10), 4), [0, 1, 2, 3])


def test_mirror_pad_matches_reference_rule_for_a_46_frame_clip():
    frames = np.arange(46)
    out = ms.mirror_pad(frames, ms.padded_length(46))
    assert out.shape == (85,)
    np.testing.assert_array_equal(out[:46], frames)
    np.testing.assert_array_equal(out[46:85], frames[::-1][:39])


def test_pass1_merges_overlap_into_remove():
    classes = np.array([1.0, 192 / 255, 128 / 255, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(ms.pass1_mask(classes),
                                  np.array([1.0, 1.0, 127 / 255, 0.0], dtype=np.float32))
    np.testing.assert_array_equal(ms.pass1_mask(np.array([0.25, 0.75, 0.2499, 0.7501], dtype=np.float32)),
                                  np.array([127 / 255, 127 / 255, 0.0, 1.0], dtype=np.float32))


def test_pass2_turns_affected_into_remove():
    classes = np.array([1.0, 192 / 255, 128 / 255, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(ms.pass2_mask(classes), [1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(ms.pass2_mask(np.array([0.5, 0.5001])), [0.0, 1.0])


def test_model_mask_end_to_end_levels_seen_by_each_pass():
    # remove | overlap | affected | keep stripes, 8 px each at 4x the target size.
    q = np.concatenate([np.full((1, 8, 8), v, dtype=np.uint8) for v in (0, 63, 127, 255)], axis=2)
    mask = ms.model_mask(q, (2, 8))
    a = np.float32(127 / 255)
    np.testing.assert_array_equal(ms.pass1_mask(mask)[0], [[1, 1, 1, 1, a, a, 0, 0]] * 2)
    np.testing.assert_array_equal(ms.pass2_mask(mask)[0], [[1, 1, 1, 1, 1, 1, 0, 0]] * 2)
