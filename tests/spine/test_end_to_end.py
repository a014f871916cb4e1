"""A shot goes out as EXRs and comes back as linear EXRs, through a real server over tcp loopback."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from void_nuke.atomic import is_temp_name
from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.errors import Cancelled, ImageError, ServerUnreachable, VoidError
from void_nuke.exrio import read_image
from void_nuke.shot import EngineSettings, OutputSettings
from void_nuke.versions import list_versions
from void_server.composite import edit_alpha


def result_files(result, shot):
    return [os.path.join(result.version_dir, shot.result_name(f)) for f in shot.process_frames]


def assert_background_untouched(shot, path, frame):
    """Every pixel beyond the feather margin is bit-identical to the plate, in every channel."""
    result = read_image(path)
    plate = read_image(shot.plate_sequence.path(frame))
    q = np.rint(result.channel("void.mask").astype(np.float32) * 255).astype(np.uint8)
    outside = edit_alpha(q, shot.masks.feather) == 0
    assert outside.mean() > 0.5
    for name in plate.spec.channels:
        assert result.channel(name)[outside].tobytes() == plate.channel(name)[outside].tobytes(), name
    return result, plate, q


def test_submit_writes_versioned_results_with_the_plate_background(server, synthetic):
    shot = synthetic.shot
    events = []
    with Client(server.address) as client:
        first = client.run(shot, on_progress=events.append)
        mtimes = [os.stat(p).st_mtime_ns for p in result_files(first, shot)]
        second = client.run(shot)
    assert os.path.basename(first.version_dir) == "v001" and os.path.basename(second.version_dir) == "v002"
    assert first.frames == list(shot.process_frames)
    assert [os.stat(p).st_mtime_ns for p in result_files(first, shot)] == mtimes  # v001 untouched
    stages = {e.stage for e in events}
    assert {"upload", "masks", "engine", "download"} <= stages
    assert any(e.eta_s is not None for e in events if e.stage == "engine")
    for frame, path in zip(shot.process_frames, result_files(first, shot)):
        result, plate, q = assert_background_untouched(shot, path, frame)
        removed = q == 0
        err_after = np.abs(result.rgb()[removed] - synthetic.background[removed]).mean()
        err_before = np.abs(plate.rgb()[removed] - synthetic.background[removed]).mean()
        assert err_after < 0.5 * err_before  # the ball is gone, the background is back
        attrs = result.spec.attributes
        assert attrs["void:job_id"] == first.job_id and attrs["void:engine"] == "classic"
        assert attrs["void:source_frame"] == frame
        assert attrs["void:source_file"] == os.path.basename(shot.plate_sequence.path(frame))  # the real plate
        assert not {"void:prompt", "void:steps", "void:seed", "void:guidance", "void:passes"} & set(attrs)
        x, y, w, h = (int(v) for v in attrs["void:mask.bbox"].split())  # the edit region's box
        rows, cols = np.nonzero(q != 255)
        assert (x, y, x + w - 1, y + h - 1) == (cols.min(), rows.min(), cols.max(), rows.max())
        assert result.spec.display_window == plate.spec.display_window
        assert result.spec.dtype == "float16"


@pytest.mark.parametrize("count", [2, 12])
def test_clients_at_once(server, tmp_path, count):
    shots = [make_synthetic_shot(str(tmp_path / f"s{i}" / "shot"), frames=5, size=(64, 40), seed=i).shot
             for i in range(count)]
    results, errors = {}, []

    def run(i):
        try:
            with Client(server.address, timeout=120) as client:
                results[i] = client.run(shots[i])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors
    for i, shot in enumerate(shots):
        assert all(os.path.isfile(p) for p in result_files(results[i], shot))
        assert results[i].version_dir.startswith(shot.output.directory)


def test_cancel_stops_the_job_and_frees_the_server(server, tmp_path):
    shot = make_synthetic_shot(str(tmp_path / "long" / "shot"), frames=40, size=(160, 96)).shot
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == "engine":
            cancel.set()

    with Client(server.address) as client:
        with pytest.raises(Cancelled):
            client.run(shot, job_id="to-cancel", on_progress=on_progress, cancel_event=cancel)
        status = client.status("to-cancel")
        assert status["state"] == "cancelled"
        assert len(status["results"]) < 40
        small = make_synthetic_shot(str(tmp_path / "after" / "shot"), frames=3, size=(48, 32)).shot
        assert client.run(small).frames == list(small.process_frames)


def test_kill9_then_resume_gives_the_same_files_without_redoing_finished_frames(server_factory, tmp_path):
    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=32, size=(192, 108))
    reference = server_factory("reference-data")
    ref_shot = synthetic.shot.with_changes(output=OutputSettings(str(tmp_path / "ref-out"), mask_layer=True))
    with Client(reference.address) as client:
        ref = client.run(ref_shot, job_id="resume-job")

    crashing = server_factory("crash-data")
    killed = threading.Event()

    def on_progress(p):
        if p.stage == "download" and not killed.is_set():
            crashing.kill9()
            killed.set()

    with Client(crashing.address, timeout=3.0) as client:
        with pytest.raises(ServerUnreachable):
            client.run(synthetic.shot, job_id="resume-job", on_progress=on_progress)
    server_results = os.path.join(crashing.data_dir, "jobs", "resume-job", "results")
    before = {n: os.stat(os.path.join(server_results, n)).st_mtime_ns for n in os.listdir(server_results)
              if not is_temp_name(n)}  # a frame the kill caught mid-write is cleared on resume
    assert 0 < len(before) < 32, "the crash must interrupt the job part-way"

    restarted = server_factory("crash-data")
    with Client(restarted.address) as client:
        resumed = client.attach("resume-job", synthetic.shot.output.directory)
    assert resumed.frames == ref.frames
    for name, mtime in before.items():
        assert os.stat(os.path.join(server_results, name)).st_mtime_ns == mtime  # not computed again
    for a, b in zip(result_files(resumed, synthetic.shot), result_files(ref, ref_shot)):
        ra, rb = read_image(a), read_image(b)
        assert ra.pixels.tobytes() == rb.pixels.tobytes()
        keys = {k for k in ra.spec.attributes if k.startswith("void:")}
        assert {k: ra.spec.attributes[k] for k in keys} == {k: rb.spec.attributes[k] for k in keys}


def test_a_dropped_client_reattaches_and_gets_only_what_it_lacks(server, synthetic):
    shot = synthetic.shot

    class Drop(Exception):
        pass

    def drop_after_first(p):
        if p.stage == "download":
            raise Drop()

    with Client(server.address) as client:
        with pytest.raises(Drop):
            client.run(shot, job_id="dropper", on_progress=drop_after_first)
    version = os.path.join(shot.output.directory, "v001")
    first = {n: os.stat(os.path.join(version, n)).st_mtime_ns for n in os.listdir(version) if n.endswith(".exr")}
    assert len(first) >= 1
    with Client(server.address) as client:
        result = client.attach("dropper", shot.output.directory)
    assert result.version_dir == version and list_versions(shot.output.directory) == [1]
    assert all(os.path.isfile(p) for p in result_files(result, shot))
    for name, mtime in first.items():
        assert os.stat(os.path.join(version, name)).st_mtime_ns == mtime


def test_paths_mode_reads_and_writes_shared_storage_through_path_mapping(server_factory, tmp_path):
    synthetic = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=4, size=(64, 40))
    # the client sees the storage as /studio/...; the server mounts it at tmp_path/storage
    studio_shot = synthetic.shot.with_paths(lambda p: p.replace(str(tmp_path / "storage"), "/studio"))
    srv = server_factory(extra=["--path-map", f"/studio={tmp_path / 'storage'}"])
    with Client(srv.address) as client:
        result = client.run(studio_shot, transfer="paths")
    assert os.path.basename(result.version_dir) == "v001"
    written = tmp_path / "storage" / "results" / "v001"
    assert sorted(os.listdir(written)) == sorted([".void-job"] + [synthetic.shot.result_name(f)
                                                                   for f in synthetic.shot.process_frames])
    typo = studio_shot.with_changes(engine=EngineSettings(options={"no_such_option": 1}))
    with Client(srv.address) as client:
        with pytest.raises(VoidError, match="no_such_option"):
            client.run(typo, transfer="paths")
    assert list_versions(str(tmp_path / "storage" / "results")) == [1]  # the failed job gave its version back


def test_errors_name_the_problem(server_factory, synthetic, tmp_path):
    shot = synthetic.shot
    server = server_factory(extra=["--allow-root", str(tmp_path)])
    with Client(server.address) as client:
        client.run(shot, job_id="taken")
        other = shot.with_changes(prompt="something else")
        with pytest.raises(VoidError, match="already names a different shot") as err:
            client.run(other, job_id="taken")
        assert err.value.code == "job_conflict"
        with pytest.raises(VoidError, match="--model-dir"):
            client.run(shot.with_changes(engine=EngineSettings(name="void")))
        os.unlink(shot.plate_sequence.path(1003))
        with pytest.raises(ImageError, match="1003"):
            client.run(shot, transfer="paths")
    with Client("tcp://127.0.0.1:9", timeout=1.0) as client:
        with pytest.raises(ServerUnreachable, match="is void-server running"):
            client.hello()


def test_preview_delivers_the_quadmask_before_any_engine_runs(server, synthetic):
    shot = synthetic.shot
    with Client(server.address) as client:
        result = client.run(shot, preview=True)
    out = shot.output.directory
    assert result.version_dir == os.path.join(out, "quadmask", "v001")  # apart from results, with its own names
    assert result.pattern == os.path.join(out, "quadmask", "v001", "demo_quadmask.####.exr")
    assert not os.path.exists(os.path.join(out, "v001"))
    values = set()
    for path in (os.path.join(result.version_dir, f"demo_quadmask.{f}.exr") for f in shot.process_frames):
        image = read_image(path)
        assert image.spec.attributes["void:preview"] == "quadmask"
        values |= set(np.unique(np.rint(image.channel("void.mask").astype(np.float32) * 255)).astype(int))
    assert values <= {0, 63, 127, 255} and {0, 255} <= values


def test_status_reports_health_and_queue(server):
    with Client(server.address) as client:
        deadline = time.monotonic() + 30
        while not client.hello()["gpu"] and time.monotonic() < deadline:
            time.sleep(0.1)  # the worker reports its GPU (or none) when it starts
        body = client.status()
    assert body["engines"]["classic"]["available"] is True
    assert body["engines"]["void"]["available"] is False
    assert body["gpu"] == {"cuda": False}
    assert body["queue"] == 0 and isinstance(body["jobs"], list)


def test_finished_jobs_are_purged_after_their_retention_time(server_factory, synthetic):
    srv = server_factory(extra=["--result-ttl-hours", "0.0005"])  # 1.8 s
    with Client(srv.address) as client:
        result = client.run(synthetic.shot, job_id="short-lived")
        job_dir = os.path.join(srv.data_dir, "jobs", "short-lived")
        assert os.path.isdir(job_dir)
        deadline = time.monotonic() + 30
        while os.path.isdir(job_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not os.path.isdir(job_dir)
        with pytest.raises(VoidError, match="no job 'short-lived'"):
            client.status("short-lived")
    assert all(os.path.isfile(p) for p in result_files(result, synthetic.shot))  # the client's copies stay
