"""A client waiting through a server restart: kill -9 of server and worker, a new server on the same
port and data folder, and the original client finishes with the same frames as an uninterrupted run."""
from __future__ import annotations

import os

import pytest

from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.exrio import read_image
from void_nuke.shot import OutputSettings

from hostile import free_port


def frames_of(result, shot):
    return {f: read_image(os.path.join(result.version_dir, shot.result_name(f))) for f in shot.process_frames}


def assert_same_frames(result, reference, shot):
    got, want = frames_of(result, shot), frames_of(reference, shot)
    for frame in shot.process_frames:
        assert got[frame].pixels.tobytes() == want[frame].pixels.tobytes(), frame
        keys = {k for k in want[frame].spec.attributes if k.startswith("void:")}
        assert {k: got[frame].spec.attributes.get(k) for k in keys} == \
            {k: want[frame].spec.attributes[k] for k in keys}


@pytest.mark.parametrize("stage, when", [("download", 1), ("upload", 10)])
def test_a_waiting_client_survives_a_server_restart(server_factory, tmp_path, stage, when):
    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=16, size=(128, 72))
    shot = synthetic.shot
    reference_server = server_factory("reference-data")
    with Client(reference_server.address) as client:
        reference = client.run(shot.with_changes(output=OutputSettings(str(tmp_path / "ref"), name="demo",
                                                                        mask_layer=True)), job_id="restart-job")

    extra = ["--bind", f"tcp://127.0.0.1:{free_port()}"]
    crashing = server_factory("data", extra)
    restarted = []
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.stage == stage and p.done >= when and not restarted:
            crashing.kill9()  # the server and its worker, mid-job, like a host crash
            restarted.append(server_factory("data", extra))  # same port, same data folder

    with Client(crashing.address, timeout=60) as client:
        first_instance = client.hello()["instance"]
        result = client.run(shot, job_id="restart-job", on_progress=on_progress)
        assert client.instance != first_instance  # it noticed the new server
    assert restarted, "the job must be interrupted part-way"
    assert any("re-attached" in p.message for p in seen)
    assert result.frames == list(shot.process_frames)
    assert_same_frames(result, reference, shot)
