"""The void engine on tiny synthetic jobs: planning, ROI paste-back, cross-fades, resume, passes, errors."""
from __future__ import annotations

import hashlib
import os
from typing import Dict, List, Optional

import numpy as np
import pytest
import torch

from void_nuke.errors import Cancelled, ShotError, VoidError
from void_nuke.exrio import ImageSpec
from void_nuke.sequences import FrameRange
from void_nuke.shot import EngineSettings, MatteSource, OutputSettings, Shot
from void_server.engines.base import EngineJob
from void_server.engines.void.engine import VoidEngine, VoidOptions
from void_server.engines.void.memory import MemoryPlan, lighter_mode
from void_server.engines.void.pipeline import VoidPipeline
from void_server.engines.void.testing import TINY_RESOLUTION

H, W = 96, 160
FIRST = 1001
MODEL = TINY_RESOLUTION  # 32x48


def _background() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([0.05 + 0.4 * x / W, 0.1 + 0.3 * y / H, 0.2 + 0.1 * np.sin(x / 9) * np.cos(y / 7)], -1)


class Synthetic:
    """A moving red box (remove) with a shadow (affected) over a smooth scene-linear background."""

    def __init__(self, count: int, scratch: str, speed: int = 1) -> None:
        self.frames = list(range(FIRST, FIRST + count))
        self.scratch = scratch
        self.plates: Dict[int, np.ndarray] = {}
        self.masks: Dict[int, np.ndarray] = {}
        for i, frame in enumerate(self.frames):
            plate, mask = _background(), np.full((H, W), 255, np.uint8)
            x0 = 60 + (speed * i) % 20
            plate[40:52, x0:x0 + 10] = (0.8, 0.05, 0.02)
            mask[40:52, x0:x0 + 10] = 0
            plate[52:56, x0 + 2:x0 + 12] *= 0.5
            mask[52:56, x0 + 2:x0 + 12] = 127
            self.plates[frame], self.masks[frame] = plate, mask

    def job(self, steps: int = 1, passes: int = 1, roi: str = "auto", **options: object) -> EngineJob:
        options.setdefault("resolution", MODEL)
        shot = Shot(plate="/plates/synthetic.####.exr", frames=FrameRange(self.frames[0], self.frames[-1]),
                    output=OutputSettings("/renders/synthetic"), remove=(MatteSource("/mattes/obj.####.exr"),),
                    prompt="a smooth wall", engine=EngineSettings(name="void", steps=steps, seed=11,
                                                                   passes=passes, roi=roi, options=dict(options)))
        spec = ImageSpec(width=W, height=H, channels=("R", "G", "B"), dtype="float32")
        return EngineJob(job_id="synthetic", shot=shot, frames=list(self.frames), spec=spec,
                         plate=lambda f: self.plates[f].copy(), quadmask=lambda f: self.masks[f].copy(),
                         scratch=self.scratch)


def _settings(tiny_model, raft: Optional[str] = None) -> dict:
    model_dir, pass1, pass2 = tiny_model
    return {"model_dir": model_dir, "pass1": pass1, "pass2": pass2, "device": "cpu", "memory_mode": "full",
            "raft_checkpoint": raft, "ocio_config": "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"}


def _run(engine: VoidEngine, job: EngineJob, units: Optional[List[int]] = None) -> Dict[int, np.ndarray]:
    out: Dict[int, np.ndarray] = {}
    for unit in engine.plan(job):
        if units is None or unit.index in units:
            for frame, rgb in engine.run(job, unit, lambda fraction, message: None):
                assert frame not in out
                out[frame] = rgb
    return out


@pytest.fixture()
def identity_model(monkeypatch):
    """Replace the model by the identity: the engine's geometry and colour path alone, seen exactly."""
    seen: List[np.ndarray] = []

    def passes(self, job, options, video, mask, stages):
        seen.append(video.copy())
        return video

    monkeypatch.setattr(VoidEngine, "_passes", passes)
    return seen


# -- options, planning, memory -------------------------------------------------------------

@pytest.mark.parametrize("options, field", [
    ({"colour": 1}, "engine.options.colour"), ({"fps_mode": "24fps"}, "engine.options.fps_mode"),
    ({"resolution": "384x670"}, "engine.options.resolution"), ({"segment_frames": 40}, "engine.options.segment_frames"),
    ({"segment_frames": 85, "segment_overlap": 85}, "engine.options.segment_overlap"),
    ({"flow_stride": 3}, "engine.options.flow_stride"), ({"pass2_guidance": "high"}, "engine.options.pass2_guidance"),
    ({"fit": "crop"}, "engine.options.fit"),
])
def test_bad_options_name_the_field(options, field):
    with pytest.raises(ShotError) as info:
        VoidOptions.from_options(options)
    assert info.value.field == field


def test_options_defaults_and_frame_step():
    options = VoidOptions.from_options({})
    assert options.size == (384, 672) and options.frame_step == 1
    assert VoidOptions.from_options({"fps_mode": "12fps"}).frame_step == 2  # 24 fps plates
    assert VoidOptions.from_options({"fps_mode": "12fps", "plate_fps": 48}).frame_step == 4
    assert VoidOptions.from_options({"fps_mode": "12fps", "plate_fps": 12}).frame_step == 1


def test_plan_covers_every_frame_once(tiny_model, tmp_path):
    synthetic = Synthetic(100, str(tmp_path))
    engine = VoidEngine(_settings(tiny_model))
    units = engine.plan(synthetic.job(segment_frames=85))
    assert [u.index for u in units] == [0, 1]
    assert [f for u in units for f in u.frames] == synthetic.frames
    assert len(engine.plan(synthetic.job())) == 1
    assert len(engine.plan(synthetic.job(segment_frames=85, fps_mode="12fps"))) == 1  # 51 model frames


def test_memory_modes_on_a_cpu_fall_back_to_full():
    assert MemoryPlan("sequential_offload", torch.device("cpu")).mode == "full"
    with pytest.raises(VoidError, match="unknown memory mode 'tiny'"):
        MemoryPlan("tiny", torch.device("cpu"))
    assert lighter_mode("full") == "model_offload" and lighter_mode("sequential_offload") is None


def test_registry_creates_the_engine_without_loading_models(tiny_model):
    from void_server.engines.registry import create_engine

    engine = create_engine("void", _settings(tiny_model))
    assert isinstance(engine, VoidEngine)
    info = engine.describe()
    assert info["engine"] == "void" and info["loaded"] is False and info["device"] == "cpu"
    assert info["checkpoints"] == {"pass1": "void_pass1.safetensors", "pass2": "void_pass2.safetensors"}
    assert info["passes"] == [1]  # no RAFT checkpoint configured: Pass 2 cannot run
    assert "group_offload" in info["memory_modes"]


# -- geometry and colour, with the identity model ------------------------------------------

def test_roi_paste_back_keeps_the_plate_outside_the_crop(tiny_model, tmp_path, identity_model):
    synthetic = Synthetic(12, str(tmp_path))
    out = _run(VoidEngine(_settings(tiny_model)), synthetic.job())
    assert list(out) == synthetic.frames
    video = identity_model[0]
    assert video.shape == (85, 32, 48, 3)  # 12 frames mirror-padded to the reference's 85
    assert np.array_equal(video[12], video[11]) and np.array_equal(video[13], video[10])
    for frame, rgb in out.items():
        plate = synthetic.plates[frame]
        assert rgb.shape == (H, W, 3) and rgb.dtype == np.float32
        changed = np.argwhere(np.any(rgb != plate, axis=2))
        (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0) + 1
        assert (x1 - x0, y1 - y0) == (72, 48)  # an ROI of the model's 3:2 aspect, not the 160x96 plate
        assert x0 <= 60 and x1 >= 90 and y0 <= 40 and y1 >= 56  # holding the whole edit region
        error = np.abs(rgb - plate)[y0:y1, x0:x1]
        assert float(np.median(error)) < 0.01  # scaled down and up again in the right place


@pytest.mark.parametrize("fit", ["stretch", "letterbox"])
def test_full_frame_fit_stretches_or_letterboxes(tiny_model, tmp_path, identity_model, fit):
    """The 160x96 plate (5:3) into the 48x32 model frame (3:2): stretched, the model sees the plate alone;
    letterboxed, it sees the plate scaled to 48x29 between mirrored bands. Either way it comes back in place."""
    synthetic = Synthetic(6, str(tmp_path))
    out = _run(VoidEngine(_settings(tiny_model)), synthetic.job(roi="full", fit=fit))
    video = identity_model[0][:6]
    if fit == "stretch":  # the plate's own rows out to the edge, no mirrored repeat
        assert not np.array_equal(video[:, 0], video[:, 1]) and not np.array_equal(video[:, 31], video[:, 30])
    else:  # the picture in rows 1..29, one band row above and two below, mirrored
        assert np.array_equal(video[:, 0], video[:, 1])
        assert np.array_equal(video[:, 30], video[:, 29]) and np.array_equal(video[:, 31], video[:, 28])
    for frame in synthetic.frames:
        error = np.abs(out[frame] - synthetic.plates[frame])
        assert float(np.median(error)) < 0.02


def test_segments_fade_into_each_other_in_place(tiny_model, tmp_path, identity_model):
    synthetic = Synthetic(100, str(tmp_path), speed=3)
    out = _run(VoidEngine(_settings(tiny_model)), synthetic.job(segment_frames=85))
    assert list(out) == synthetic.frames
    assert os.path.exists(tmp_path / "void-segment-000-tail.npz")
    errors = [float(np.abs(out[f] - synthetic.plates[f]).mean()) for f in synthetic.frames]
    # frames 42..57 are faded between the two segments; a position off by one would misplace the
    # moving box there and raise the error well above that of the other frames
    fade = errors[42:58]
    rest = errors[:42] + errors[58:]
    assert max(fade) < 1.5 * max(rest)


def test_12fps_mode_feeds_every_other_frame_and_interpolates(tiny_model, tmp_path, identity_model):
    synthetic = Synthetic(20, str(tmp_path), speed=2)
    engine = VoidEngine(_settings(tiny_model))
    native = _run(engine, synthetic.job())
    halved = _run(engine, synthetic.job(fps_mode="12fps"))
    native_video, halved_video = identity_model
    assert np.array_equal(halved_video[:10], native_video[0:20:2])
    assert np.array_equal(halved_video[10], native_video[19])  # the last frame is always seen
    for i, frame in enumerate(synthetic.frames):
        if i % 2 == 0 or i == 19:
            assert np.array_equal(halved[frame], native[frame])
        else:
            assert not np.array_equal(halved[frame], native[frame])


def test_a_segment_with_nothing_to_edit_returns_the_plate(tiny_model, tmp_path, identity_model):
    synthetic = Synthetic(6, str(tmp_path))
    for frame in synthetic.frames:
        synthetic.masks[frame][:] = 255
    out = _run(VoidEngine(_settings(tiny_model)), synthetic.job())
    assert identity_model == []
    assert all(np.array_equal(out[f], synthetic.plates[f]) for f in synthetic.frames)


# -- the real (tiny) model -----------------------------------------------------------------

def test_pass1_run_is_deterministic_and_reports_its_checkpoint(tiny_model, tmp_path):
    synthetic = Synthetic(10, str(tmp_path))
    settings = _settings(tiny_model)
    del settings["pass1"], settings["pass2"]  # laid out as the release's README: beside the base folder
    engine = VoidEngine(settings)
    first = _run(engine, synthetic.job())
    again = _run(engine, synthetic.job())
    for frame in synthetic.frames:
        assert np.array_equal(first[frame], again[frame])
        plate = synthetic.plates[frame]
        assert np.array_equal(first[frame][:, :30], plate[:, :30])  # left of the ROI: the plate, bit for bit
        assert not np.allclose(first[frame][40:52, 60:70], plate[40:52, 60:70])  # the object area is new
    meta = engine.metadata()
    with open(tiny_model[1], "rb") as fh:
        assert meta["void:checkpoint_pass1_sha256"] == hashlib.sha256(fh.read()).hexdigest()
    assert meta["void:engine"] == "void" and meta["void:steps"] == 1 and meta["void:seed"] == 11
    assert meta["void:passes"] == 1 and "void:checkpoint_pass2_sha256" not in meta
    assert engine.describe()["loaded"] is True
    engine.close()
    assert engine.describe()["loaded"] is False


def test_a_missing_checkpoint_names_both_places_searched(model_copy, tmp_path):
    synthetic = Synthetic(4, str(tmp_path))
    engine = VoidEngine({"model_dir": str(model_copy), "device": "cpu"})
    with pytest.raises(VoidError) as caught:
        _run(engine, synthetic.job())
    message = str(caught.value)
    assert str(model_copy / "void_pass1.safetensors") in message
    assert str(model_copy.parent / "void_pass1.safetensors") in message and "--pass1" in message


def test_resume_after_a_crash_gives_identical_frames(tiny_model, tmp_path):
    synthetic = Synthetic(100, str(tmp_path), speed=3)
    job = synthetic.job(segment_frames=85)
    whole = _run(VoidEngine(_settings(tiny_model)), job)
    resumed = _run(VoidEngine(_settings(tiny_model)), job, units=[1])  # a new process, unit 0 done before
    assert resumed and all(np.array_equal(resumed[f], whole[f]) for f in resumed)
    os.remove(tmp_path / "void-segment-000-tail.npz")  # scratch lost: the engine re-makes it
    remade = _run(VoidEngine(_settings(tiny_model)), job, units=[1])
    assert all(np.array_equal(remade[f], whole[f]) for f in remade)


def test_pass2_runs_the_second_checkpoint_from_warped_noise(tiny_model, tmp_path, monkeypatch):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    raft = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), raft)
    calls = []
    original = VoidPipeline.__call__

    def spy(self, video, mask, prompt, **kwargs):
        calls.append(dict(kwargs, mask=mask.clone(), proj=self.transformer.proj_out.weight.clone()))
        return original(self, video, mask, prompt, **kwargs)

    monkeypatch.setattr(VoidPipeline, "__call__", spy)
    synthetic = Synthetic(10, str(tmp_path))
    engine = VoidEngine(_settings(tiny_model, raft=str(raft)))
    out = _run(engine, synthetic.job(passes=2, flow_stride=4))
    assert len(out) == 10
    first, second = calls
    assert first.get("latents") is None and first["guidance_scale"] == 1.0
    assert second["latents"].shape == (1, 22, 16, 4, 6)
    assert abs(float(second["latents"].std()) - 1) < 0.2
    assert second["guidance_scale"] == 6.0 and second["negative_prompt"] == ""
    assert torch.equal(second["mask"], first["mask"])  # trimask for Pass 2 by default (training's encoding)
    assert not torch.equal(first["proj"], second["proj"])  # another checkpoint
    assert "void:checkpoint_pass2_sha256" in engine.metadata()


class _RecordingPipeline:
    """Stands in for VoidPipeline: records the masks it is given, returns black frames."""

    def __init__(self) -> None:
        self.masks: List[torch.Tensor] = []

    def latent_shape(self, frames: int, height: int, width: int):
        return (1, (frames - 1) // 4 + 1, 16, height // 8, width // 8)

    def __call__(self, video, mask, prompt, **kwargs):
        self.masks.append(mask)
        return torch.zeros(video.shape[2], video.shape[3], video.shape[4], 3)


def test_pass2_binary_mask_reproduces_the_reference(tiny_model, tmp_path, monkeypatch):
    recorder = _RecordingPipeline()
    captured = recorder.masks
    monkeypatch.setattr(VoidEngine, "_pipeline", lambda self, number: recorder)
    monkeypatch.setattr("void_server.engines.void.engine.load_raft", lambda path, device: None)
    monkeypatch.setattr("void_server.engines.void.engine.warped_noise", lambda *a, **k: torch.zeros(1, 22, 16, 4, 6))
    synthetic = Synthetic(6, str(tmp_path))
    _run(VoidEngine(_settings(tiny_model)), synthetic.job(passes=2, pass2_mask="binary"))
    first, second = captured
    assert sorted(torch.unique(first).tolist()) == pytest.approx([0.0, 127 / 255, 1.0])
    assert sorted(torch.unique(second).tolist()) == [0.0, 1.0]  # affected became "remove"


def test_out_of_memory_names_a_lighter_mode(tiny_model, tmp_path, monkeypatch):
    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(VoidEngine, "_pipeline", lambda self, number: exhausted)
    synthetic = Synthetic(4, str(tmp_path))
    with pytest.raises(VoidError, match="--memory-mode model_offload") as info:
        _run(VoidEngine(_settings(tiny_model)), synthetic.job())
    assert info.value.code == "out_of_memory"


def test_cancel_during_sampling_stops_the_unit(tiny_model, tmp_path):
    synthetic = Synthetic(4, str(tmp_path))
    job = synthetic.job(steps=3)
    engine = VoidEngine(_settings(tiny_model))
    messages = []

    def progress(fraction: float, message: str) -> None:
        messages.append(message)
        if "Pass 1: step 1/3" in message:
            raise Cancelled()

    with pytest.raises(Cancelled):
        list(engine.run(job, engine.plan(job)[0], progress))
    assert any("Pass 1" in m for m in messages) and not any("step 2/3" in m for m in messages)
