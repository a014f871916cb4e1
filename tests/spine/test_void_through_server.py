"""A job with the void engine runs end to end through the server, on a tiny random-weight model
saved in the real checkpoint layout and loaded through the real loader."""
from __future__ import annotations

import os

import numpy as np
import pytest

from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.exrio import read_image
from void_nuke.shot import EngineSettings
from void_server.engines.void.loader import checkpoint_sha256
from void_server.engines.void.testing import TINY_RESOLUTION, make_tiny_void_model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_void_model(str(tmp_path_factory.mktemp("void-model")))


def test_void_engine_job_through_the_server(server_factory, tiny_model, tmp_path):
    model_dir, pass1, _ = tiny_model
    srv = server_factory(extra=["--model-dir", model_dir, "--pass1", pass1, "--device", "cpu"])
    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=6, size=(64, 40))
    shot = synthetic.shot.with_changes(engine=EngineSettings(
        name="void", steps=2, seed=11, options={"resolution": TINY_RESOLUTION}))
    with Client(srv.address, timeout=120) as client:
        assert client.hello()["engines"]["void"]["available"] is True
        result = client.run(shot)
    assert result.frames == list(shot.process_frames)
    for frame in result.frames:
        image = read_image(os.path.join(result.version_dir, shot.result_name(frame)))
        attrs = image.spec.attributes
        assert attrs["void:engine"] == "void" and attrs["void:steps"] == 2 and attrs["void:seed"] == 11
        assert attrs["void:checkpoint_pass1_sha256"] == checkpoint_sha256(pass1)
        plate = read_image(shot.plate_sequence.path(frame))
        q = np.rint(image.channel("void.mask").astype(np.float32) * 255)
        assert np.isfinite(image.rgb()).all()
        assert not np.array_equal(image.rgb()[q == 0], plate.rgb()[q == 0])  # the engine painted the hole
