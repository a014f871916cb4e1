"""SAM2 from clicks, boxes and mask prompts, with the real sam2 package on random tiny weights (CPU)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from void_nuke.shapes import BoxPrompt, PointPrompt, Prompts  # noqa: E402
from sam2.sam2_video_predictor import SAM2VideoPredictor  # noqa: E402
from void_server.sam2_masks import Sam2Error, load_predictor, segment  # noqa: E402

TINY = "configs/sam2.1/sam2.1_hiera_t.yaml"
H, W = 40, 56


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A random-weight SAM2.1 tiny checkpoint, saved the way SAM2 ships them."""
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor(TINY, None, device="cpu", hydra_overrides_extra=["++model.image_size=256"])
    path = tmp_path_factory.mktemp("sam2") / "tiny.pt"
    torch.save({"model": model.state_dict()}, path)
    return str(path)


def _settings(checkpoint, image_size=256, config="sam2.1_hiera_t.yaml"):
    return {"sam2_checkpoint": checkpoint, "sam2_config": config, "sam2_image_size": image_size,
            "device": "cpu"}


def _plate(frames):
    rng = np.random.default_rng(7)
    images = {f: rng.random((H, W, 3)).astype(np.float32) for f in frames}
    return images.__getitem__


def test_clicks_on_a_middle_frame_give_mattes_for_every_frame_forward_and_backward(tiny_checkpoint,
                                                                                   monkeypatch):
    frames = [1001, 1002, 1003, 1004]
    calls = []
    real_add = SAM2VideoPredictor.add_new_points_or_box

    def spy(self, state, frame_idx, obj_id, **kwargs):
        calls.append((frame_idx, obj_id, {k: np.asarray(v).tolist() for k, v in kwargs.items()}))
        return real_add(self, state, frame_idx=frame_idx, obj_id=obj_id, **kwargs)

    monkeypatch.setattr(SAM2VideoPredictor, "add_new_points_or_box", spy)
    prompts = Prompts(points=(PointPrompt(1003, 130.0, 220.0), PointPrompt(1003, 105.0, 205.0, positive=False)),
                      boxes=(BoxPrompt(1003, 110.0, 210.0, 140.0, 230.0, object_id=2),))
    fractions = []
    out = list(segment(frames, _plate(frames), prompts, {}, _settings(tiny_checkpoint),
                       lambda f, m: fractions.append(f), origin=(100, 200)))

    assert [f for f, _ in out] == frames  # backward-tracked frames first, all in order
    for _, matte in out:
        assert matte.shape == (H, W) and matte.dtype == np.float32
        assert set(np.unique(matte)) <= {0.0, 1.0}
    # Prompts arrive in plate pixels: display-window coordinates minus the data window's origin.
    assert sorted(calls, key=lambda c: c[1]) == [
        (2, 1, {"points": [[30.0, 20.0], [5.0, 5.0]], "labels": [1, 0]}),
        (2, 2, {"box": [10.0, 10.0, 40.0, 30.0]}),
    ]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_a_mask_prompt_is_tracked_and_reproduced_on_its_frame(tiny_checkpoint):
    frames = [1, 2, 3]
    mask = np.zeros((H, W), bool)
    mask[8:32, 12:44] = True
    out = dict(segment(frames, _plate(frames), Prompts(), {2: mask}, _settings(tiny_checkpoint, 128),
                       lambda f, m: None))
    assert sorted(out) == frames
    prompted = out[2] > 0.5
    iou = (prompted & mask).sum() / (prompted | mask).sum()
    assert iou > 0.9
    assert all(out[f].shape == (H, W) for f in frames)


def test_prompts_must_lie_in_the_range_and_have_one_box_per_object_and_frame(tiny_checkpoint):
    settings = _settings(tiny_checkpoint, 128)
    with pytest.raises(Sam2Error, match="outside"):
        list(segment([1, 2], _plate([1, 2]), Prompts(points=(PointPrompt(9, 1, 1),)), {}, settings,
                     lambda f, m: None))
    two_boxes = Prompts(boxes=(BoxPrompt(1, 0, 0, 5, 5), BoxPrompt(1, 2, 2, 9, 9)))
    with pytest.raises(Sam2Error, match="two boxes"):
        list(segment([1, 2], _plate([1, 2]), two_boxes, {}, settings, lambda f, m: None))
    with pytest.raises(Sam2Error, match="at least one"):
        list(segment([1, 2], _plate([1, 2]), Prompts(), {}, settings, lambda f, m: None))
    with pytest.raises(Sam2Error, match="plate resolution"):
        list(segment([1, 2], _plate([1, 2]), Prompts(), {1: np.ones((4, 4), bool)}, settings,
                     lambda f, m: None))


def test_checkpoint_problems_name_the_setting(tiny_checkpoint, tmp_path):
    with pytest.raises(Sam2Error, match="sam2_checkpoint is not set") as err:
        load_predictor(_settings(None))
    assert err.value.code == "sam2_checkpoint"
    with pytest.raises(Sam2Error, match="sam2_checkpoint .* does not exist"):
        load_predictor(_settings(str(tmp_path / "missing.pt")))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(Sam2Error, match="sam2_checkpoint .* cannot be loaded"):
        load_predictor(_settings(str(garbage)))
    no_model = tmp_path / "no_model.pt"
    torch.save({"weights": {}}, no_model)
    with pytest.raises(Sam2Error, match="no 'model' entry"):
        load_predictor(_settings(str(no_model)))
    with pytest.raises(Sam2Error, match="does not match sam2_config") as err:
        load_predictor(_settings(tiny_checkpoint, config="sam2.1_hiera_s.yaml"))
    assert err.value.code == "sam2_config"
    with pytest.raises(Sam2Error, match="sam2_config 'hiera_x.yaml' is not one of"):
        load_predictor(_settings(tiny_checkpoint, config="hiera_x.yaml"))
    with pytest.raises(Sam2Error, match="sam2_image_size"):
        load_predictor(_settings(tiny_checkpoint, image_size=100))

