"""VOID's first-frame rule (no affected region on a job's first frame) is for the void engine only.

The README's shot: a ball to remove and its shadow as the affected matte, with the
shot's default mask settings. The classic engine restores the background under
the shadow on every frame, the first included; the void engine's quadmask still
has no affected class on the first frame.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from void_nuke.demo import make_synthetic_shot
from void_nuke.exrio import read_image, read_matte
from void_nuke.sequences import SequencePattern
from void_nuke.shot import EngineSettings, MaskSettings
from void_server.runner import run_shot_local

FIRST = 1001


@pytest.fixture
def readme_shot(tmp_path):
    """The demo's ball and shadow, with the mask settings a shot gets by default."""
    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=6, size=(160, 96))
    shot = synthetic.shot.with_changes(masks=MaskSettings(threshold=0.1, feather=6.0))
    assert shot.masks.clear_affected_first_frame  # the default
    return shot, synthetic.background


def _matte(shot, frame: int) -> np.ndarray:
    values, _ = read_matte(SequencePattern(shot.affected[0].pattern).path(frame))
    return values > 0.5


def _result(result, shot, frame: int) -> np.ndarray:
    return read_image(os.path.join(result.version_dir, shot.result_name(frame))).rgb()


def test_classic_removes_the_shadow_on_the_first_frame_and_smears_none_into_the_next(readme_shot):
    shot, background = readme_shot
    result = run_shot_local(shot)
    plate = read_image(shot.plate_sequence.path(FIRST)).rgb()
    shadow_first = _matte(shot, FIRST)
    assert shadow_first.sum() > 50
    darkening = np.abs(plate[shadow_first] - background[shadow_first]).mean()
    assert darkening > 0.05  # the shadow is really in the plate of frame 1001

    first = _result(result, shot, FIRST)
    assert np.abs(first[shadow_first] - background[shadow_first]).mean() < 0.15 * darkening

    # Frame 1002: where 1001's shadow lay (and is background now), nothing dark was copied in.
    second = _result(result, shot, FIRST + 1)
    where = shadow_first | _matte(shot, FIRST + 1)
    assert np.abs(second[where] - background[where]).mean() < 0.15 * darkening
    darker = (background[where] - second[where]).mean(axis=-1)
    assert (darker > 0.5 * darkening).mean() < 0.01


@pytest.mark.parametrize("engine, affected_on_first", [("classic", True), ("void", False)])
def test_first_frame_quadmask_keeps_affected_only_where_the_engine_needs_it(readme_shot, engine,
                                                                           affected_on_first):
    shot, _ = readme_shot
    shot = shot.with_changes(engine=EngineSettings(name=engine))
    result = run_shot_local(shot, preview=True)  # quadmasks only: no engine, no weights
    for frame in (FIRST, FIRST + 1):
        preview = read_image(SequencePattern(result.pattern).path(frame))
        q = np.rint(preview.channel("void.mask").astype(np.float32) * 255).astype(np.uint8)
        has_affected = bool((q == 127).any())
        assert has_affected == (affected_on_first or frame != FIRST), (engine, frame)
