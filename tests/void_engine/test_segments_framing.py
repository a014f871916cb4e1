"""Segment planning, cross-fade weights, frame-rate sampling, and the ROI crop and paste-back geometry."""
from __future__ import annotations

import numpy as np
import pytest

from void_server.engines.void.framing import choose_framing, edit_box, fit_box, roi_box, union
from void_server.modelspace import area_resize
from void_server.engines.void.segments import fade_weight, interpolate, plan_segments, sample_positions


@pytest.mark.parametrize("count, step", [(1, 1), (85, 1), (197, 1), (198, 1), (400, 1), (1000, 1), (401, 2), (50, 3)])
def test_segments_cover_every_position_once_within_the_limit(count, step):
    segments = plan_segments(count, step=step, max_samples=197, overlap=16)
    delivered = [p for s in segments for p in range(*s.deliver)]
    assert delivered == list(range(count))
    for s in segments:
        assert len(s.samples) <= 197
        assert s.first <= s.deliver[0] and s.deliver[1] - 1 <= s.last
        assert list(s.samples) == sorted(s.samples)
    for a, b in zip(segments, segments[1:]):
        shared = set(a.samples) & set(b.samples)
        assert len(shared) >= 16  # at least the asked overlap, in model frames
        assert a.fade_out == b.fade_in == (b.first, a.last + 1)
        assert b.deliver[0] == b.first
    lengths = [len(s.samples) for s in segments]
    assert max(lengths) - min(lengths) <= 1  # balanced, no short tail segment


def test_sampling_keeps_the_last_frame():
    assert sample_positions(10, 2) == [0, 2, 4, 6, 8, 9]
    assert sample_positions(9, 2) == [0, 2, 4, 6, 8]
    assert sample_positions(5, 1) == [0, 1, 2, 3, 4]


def test_fade_weights_rise_strictly_between_0_and_1():
    fade = (100, 116)
    weights = [fade_weight(p, fade) for p in range(*fade)]
    assert all(0 < w < 1 for w in weights)
    assert all(a < b for a, b in zip(weights, weights[1:]))
    assert weights[0] == pytest.approx(1 - weights[-1])  # symmetric ramp


def test_interpolation_between_samples_is_linear():
    frames = np.stack([np.full((2, 2, 3), v, np.float32) for v in (0.0, 1.0, 0.5)])
    out = interpolate([0, 4, 6], frames)
    assert sorted(out) == list(range(7))
    assert np.array_equal(out[4], frames[1])  # sampled positions are the model's own frames
    assert float(out[1][0, 0, 0]) == pytest.approx(0.25)
    assert float(out[5][0, 0, 0]) == pytest.approx(0.75)


def test_edit_box_and_union():
    mask = np.full((40, 60), 255, np.uint8)
    assert edit_box(mask) is None
    mask[10:20, 5:9] = 0
    mask[30, 50] = 127
    assert edit_box(mask) == (5, 10, 51, 31)
    assert union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert union((0, 5, 10, 6), (2, 1, 4, 9)) == (0, 1, 10, 9)


@pytest.mark.parametrize("edit", [(1000, 500, 1100, 620), (0, 0, 30, 20), (3800, 2000, 3840, 2160),
                                  (100, 100, 1500, 400)])
def test_roi_holds_the_edit_region_at_the_model_aspect_inside_the_plate(edit):
    plate, size = (2160, 3840), (384, 672)
    box = roi_box(edit, plate, size, margin=0.5)
    x0, y0, x1, y1 = box
    assert 0 <= x0 and 0 <= y0 and x1 <= plate[1] and y1 <= plate[0]
    assert x0 <= edit[0] and y0 <= edit[1] and edit[2] <= x1 and edit[3] <= y1
    assert x1 - x0 >= size[1] and y1 - y0 >= size[0]  # never below the model frame: no upscaling
    assert (x1 - x0) / (y1 - y0) == pytest.approx(size[1] / size[0], rel=0.01)


def test_roi_larger_than_the_plate_becomes_the_plate():
    assert roi_box((100, 100, 3000, 400), (2160, 3840), (384, 672), margin=0.5) == (0, 0, 3840, 2160)


def test_full_frame_is_stretched_by_default_as_the_reference():
    framing = choose_framing("full", (10, 10, 20, 20), (858, 2048), (384, 672), 0.5)  # 2.39:1 plate
    assert framing.box == (0, 0, 2048, 858) and framing.inner == (0, 0, 672, 384)
    y, x = np.mgrid[0:858, 0:2048].astype(np.float32)
    model = framing.video_to_model(np.stack([x / 2048, y / 858, x * 0], -1)[None])[0]
    # the reference's resize: the whole plate, area-resized to 384x672, nothing else
    assert np.array_equal(model, np.clip(area_resize(np.stack([x / 2048, y / 858, x * 0], -1)[None],
                                                     (384, 672))[0], 0, 1))


def test_full_frame_can_be_letterboxed():
    framing = choose_framing("full", (10, 10, 20, 20), (858, 2048), (384, 672), 0.5, fit="letterbox")
    x0, y0, x1, y1 = framing.inner
    assert (x0, x1) == (0, 672)
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2048 / 858, rel=0.01)
    assert y0 > 0 and y1 < 384


def test_an_unknown_fit_is_refused():
    with pytest.raises(ValueError, match="stretch"):
        fit_box((0, 0, 10, 10), (32, 48), "crop")


def test_auto_mode_crops_large_plates_only():
    assert choose_framing("auto", (500, 500, 600, 600), (2160, 3840), (384, 672), 0.5).box != (0, 0, 3840, 2160)
    assert choose_framing("auto", (50, 50, 60, 60), (360, 640), (384, 672), 0.5).box == (0, 0, 640, 360)


@pytest.mark.parametrize("fit", ["stretch", "letterbox"])
def test_paste_back_returns_the_crop_where_it_came_from(fit):
    """A smooth image through crop → model frame → back keeps every pixel where it was."""
    y, x = np.mgrid[0:300, 0:500].astype(np.float32)
    image = np.stack([x / 500, y / 300, 0.5 + 0.4 * np.sin(x / 40) * np.cos(y / 30)], -1)
    framing = fit_box((60, 40, 460, 240), (96, 168), fit)  # a 400x200 crop into 168x96
    model = framing.video_to_model(framing.crop(image)[None])[0]
    assert model.shape == (96, 168, 3)
    back = framing.from_model(model)
    assert back.shape == (200, 400, 3)
    assert np.abs(back - framing.crop(image))[4:-4, 4:-4].max() < 0.02


def test_letterbox_padding_mirrors_picture_and_mask():
    framing = fit_box((0, 0, 100, 20), (32, 48), "letterbox")  # 5:1 crop: bands above and below
    x0, y0, x1, y1 = framing.inner
    assert y0 > 0
    quad = np.full((1, 20, 100), 255, np.uint8)
    quad[0, :3, 40:60] = 0  # object touching the top edge
    mask = framing.mask_to_model(quad)[0]
    assert mask.shape == (32, 48)
    assert np.array_equal(mask[y0 - 1], mask[y0])  # symmetric padding repeats the edge row outward
    assert mask[:y0].max() == 1.0  # the object's mirror image above the crop is marked for removal too


def test_anamorphic_roi_is_at_the_model_aspect_on_screen():
    """A 2:1 anamorphic plate: the crop holds half the pixels across, so the stretched model frame
    shows the picture unsqueezed (a circle on screen stays a circle for the model)."""
    plate, size, edit = (2160, 2048), (384, 672), (900, 900, 1000, 1100)
    square = roi_box(edit, plate, size, margin=0.5)
    box = roi_box(edit, plate, size, margin=0.5, pixel_aspect=2.0)
    x0, y0, x1, y1 = box
    assert x0 <= edit[0] and y0 <= edit[1] and edit[2] <= x1 and edit[3] <= y1
    assert (x1 - x0) * 2.0 / (y1 - y0) == pytest.approx(size[1] / size[0], rel=0.01)
    assert (square[2] - square[0]) / (square[3] - square[1]) == pytest.approx(size[1] / size[0], rel=0.01)
    # a disc drawn round on screen (an ellipse twice as tall as wide in pixels) is round in the model frame
    h, w = y1 - y0, x1 - x0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disc = (((xx - w / 2) * 2.0) ** 2 + (yy - h / 2) ** 2 < (h / 4) ** 2).astype(np.float32)
    model = choose_framing("roi", edit, plate, size, 0.5, pixel_aspect=2.0).video_to_model(
        np.repeat(disc[None, :, :, None], 3, -1))[0, :, :, 0]
    rows, cols = np.flatnonzero(model.max(1) > 0.5), np.flatnonzero(model.max(0) > 0.5)
    assert (cols[-1] - cols[0]) / (rows[-1] - rows[0]) == pytest.approx(1.0, abs=0.05)


def test_anamorphic_letterbox_keeps_the_display_aspect():
    framing = fit_box((0, 0, 1024, 858), (384, 672), "letterbox", pixel_aspect=2.0)  # 2.39:1 on screen
    x0, y0, x1, y1 = framing.inner
    assert (x1 - x0) / (y1 - y0) == pytest.approx(2048 / 858, rel=0.01)
