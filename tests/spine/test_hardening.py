"""Hostile clients and hostile paths against a real server: refused clearly, before any work is queued."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from hostile import RawPeer

from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.errors import VoidError
from void_nuke.limits import MAX_HAVE, MAX_JOB_FRAMES
from void_nuke.protocol import ATTACH, CREDIT, ERROR, FRAME, HELLO, STATUS, SUBMIT


def shot_dict(synthetic, **changes):
    data = synthetic.shot.to_dict()
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            data[outer] = {**data[outer], inner: value}
        else:
            data[key] = value
    return data


def submit(peer, job, shot, transfer="pixels", **body):
    return peer.request(SUBMIT, job, {"shot": shot, "transfer": transfer, **body})


def assert_refused(reply, code, *words):
    assert reply.type == ERROR, reply.body
    assert reply.body["code"] == code, reply.body
    for word in words:
        assert word in reply.body["message"], reply.body["message"]


def assert_not_queued(peer, job):
    assert_refused(peer.request(STATUS, job), "unknown_job")


# -- output names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../../escaped", "/tmp/absolute", "a/b", "..", "c:evil", "x\\y", ".hidden",
                                  "nul\x00byte", "new\nline", "n" * 300])
def test_the_server_refuses_output_names_that_are_not_plain_file_names(server, synthetic, name):
    with RawPeer(server.address) as peer:
        reply = submit(peer, "escape", shot_dict(synthetic, **{"output.name": name}))
        assert_refused(reply, "invalid_shot", "output.name")
        assert_not_queued(peer, "escape")
    assert not os.path.exists(os.path.join(os.path.dirname(server.data_dir), "escaped"))


# -- paths mode: allowed roots --------------------------------------------------------------------

@pytest.fixture
def storage(tmp_path):
    """A shot on 'shared storage' (seen as /studio by clients) and another shot outside every root."""
    inside = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=3, size=(48, 32))
    outside = make_synthetic_shot(str(tmp_path / "outside" / "shot"), frames=3, size=(48, 32))
    return tmp_path, inside, outside


def studio(path, tmp_path):
    return path.replace(str(tmp_path / "storage"), "/studio")


def test_paths_mode_reads_and_writes_only_under_the_allowed_roots(server_factory, storage):
    tmp_path, inside, outside = storage
    srv = server_factory(extra=["--path-map", f"/studio={tmp_path / 'storage'}"])
    good = inside.shot.with_paths(lambda p: studio(p, tmp_path)).to_dict()
    with RawPeer(srv.address) as peer:
        cases = {
            "plate-outside": {**good, "plate": outside.shot.plate},
            "plate-missing-outside": {**good, "plate": str(tmp_path / "nowhere" / "plate.####.exr")},
            "matte-outside": {**good, "remove": [outside.shot.remove[0].pattern]},
            "output-outside": {**good, "output": {"directory": str(tmp_path / "outside" / "out")}},
            "output-relative": {**good, "output": {"directory": "../../escape-rel"}},
            "config-outside": {**good, "ocio_config": str(tmp_path / "outside" / "config.ocio")},
            "dotdot": {**good, "plate": "/studio/shot/../../outside/shot/plate.####.exr"},
        }
        messages = {}
        for job, shot in cases.items():
            reply = submit(peer, job, shot, "paths")
            assert_refused(reply, "forbidden_path", "relative" if job == "output-relative" else "--allow-root")
            assert_not_queued(peer, job)
            messages[job] = reply.body["message"]
        # an existing file and a missing one outside the roots get the same answer: no probing
        assert messages["plate-outside"].replace(outside.shot.plate, "P") == \
            messages["plate-missing-outside"].replace(str(tmp_path / "nowhere" / "plate.####.exr"), "P")
        assert str(tmp_path / "storage") in messages["plate-outside"]  # the roots are named
        assert submit(peer, "fine", good, "paths").body["state"] == "queued"
    assert not os.path.exists(tmp_path / "outside" / "out")
    assert not os.path.exists(os.path.abspath(os.path.join("..", "..", "escape-rel")))


def test_links_out_of_a_root_and_other_jobs_uploads_are_refused(server_factory, storage):
    tmp_path, inside, outside = storage
    srv = server_factory(extra=["--path-map", f"/studio={tmp_path / 'storage'}"])
    with Client(srv.address) as client:
        client.run(inside.shot, job_id="victim")  # its frames are uploaded into the data folder
    os.symlink(tmp_path / "outside" / "shot", tmp_path / "storage" / "linked")
    single = tmp_path / "storage" / "single"
    single.mkdir()
    for f in (1001, 1002, 1003):
        os.symlink(outside.shot.plate_sequence.path(f), single / f"plate.{f}.exr")
    good = inside.shot.with_paths(lambda p: studio(p, tmp_path)).to_dict()
    uploaded = os.path.join(srv.data_dir, "jobs", "victim", "inputs", "plate.%04d.exr")
    assert os.path.isfile(uploaded % 1001)
    with RawPeer(srv.address) as peer:
        for job, plate in (("via-dir-link", "/studio/linked/plate.####.exr"),
                           ("via-frame-links", "/studio/single/plate.####.exr"),
                           ("other-jobs-frames", uploaded), ("private", os.path.join(srv.data_dir, "private", "worker.%04d.json"))):
            reply = submit(peer, job, {**good, "plate": plate}, "paths")
            assert_refused(reply, "forbidden_path")
            assert_not_queued(peer, job)


def test_allow_root_opens_a_folder_for_reads_and_writes(server_factory, storage):
    tmp_path, _, outside = storage
    srv = server_factory(extra=["--allow-root", str(tmp_path / "outside")])
    with Client(srv.address) as client:
        result = client.run(outside.shot, transfer="paths")
    assert result.frames == list(outside.shot.process_frames)
    assert os.path.dirname(result.version_dir) == outside.shot.output.directory


# -- bounded work -----------------------------------------------------------------------------------

def test_a_huge_frame_count_is_refused_before_any_work(server, synthetic):
    with RawPeer(server.address) as peer, RawPeer(server.address) as other:
        for job, change in (("handles", {"handles": [0, 300000]}), ("range", {"frames": "1-300000"}),
                            ("billion", {"frames": "1-1000000000"})):
            reply = submit(peer, job, shot_dict(synthetic, **change))
            assert_refused(reply, "invalid_shot", str(MAX_JOB_FRAMES))
            assert other.request(HELLO).type == HELLO


def max_size_shot(synthetic):
    """A legal shot at the limits: 10,000 frames with handles and about 200,000 Roto control points."""
    points = [[float(i % 40), float(i // 40 % 30), 0, 0, 0, 0, 0] for i in range(40)]
    shapes = [{"name": f"s{i}", "role": "remove",
               "keys": [{"frame": 2000 + k, "points": points} for k in range(100)]} for i in range(49)]
    return shot_dict(synthetic, frames="2000-11989", handles=[5, 5], shapes=shapes)


def test_hello_is_answered_while_a_max_size_submit_is_checked(server, synthetic):
    shot = max_size_shot(synthetic)
    with RawPeer(server.address) as big, RawPeer(server.address) as other:
        seq = submit_seq = big.send(SUBMIT, "biggest", {"shot": shot, "transfer": "pixels"})
        hello = other.send(HELLO)
        reply = other.reply(hello)
        assert reply.type == HELLO
        assert big.receive(0) is None, "the SUBMIT must still be in the works when HELLO is answered"
        status = big.reply(seq)
        assert status.body["state"] == "receiving" and status.body["total"] == MAX_JOB_FRAMES
        assert len(status.body["need"]) == 3 * MAX_JOB_FRAMES and submit_seq == seq
        assert other.request(STATUS, "biggest").body["missing"] == 3 * MAX_JOB_FRAMES  # answered from memory


def test_have_lists_and_request_fields_are_bounded_and_type_checked(server, synthetic):
    with RawPeer(server.address) as peer:
        submit(peer, "fields", synthetic.shot.to_dict())
        assert_refused(peer.request(ATTACH, "fields", {"have": list(range(2_000_000))}), "oversized", str(MAX_HAVE))
        assert peer.request(ATTACH, "fields", {"have": list(range(MAX_HAVE))}).type == STATUS
        refused = [(STATUS, None, {"limit": "abc"}, "limit"), (STATUS, None, {"limit": 10 ** 9}, "limit"),
                   (CREDIT, "fields", {"n": "x"}, "n"), (CREDIT, "fields", {"n": -5}, "n"),
                   (SUBMIT, "fields", {"shot": {}, "transfer": 7}, "transfer"),
                   (SUBMIT, "fields", {"shot": {}, "preview": "yes"}, "preview"),
                   (ATTACH, "fields", {"have": "1001"}, "have"), (ATTACH, "fields", {"have": [[1]]}, "have")]
        for kind, job, body, field in refused:
            reply = peer.request(kind, job, body)
            assert_refused(reply, "bad_request", field)
        for frame in ("1001", [1001], None, 10 ** 30 % 2 ** 63):
            reply = peer.request(FRAME, "fields", {"role": "plate", "frame": frame})
            assert_refused(reply, "bad_frame")
        assert_refused(peer.request(STATUS, "x\n"), "invalid_shot", "job id")


def test_jobs_waiting_for_uploads_are_bounded(server, synthetic):
    from void_server.app import MAX_RECEIVING

    with RawPeer(server.address) as peer:
        seqs = [peer.send(SUBMIT, f"wait-{i}", {"shot": synthetic.shot.to_dict(), "stream": False})
                for i in range(MAX_RECEIVING)]
        assert all(peer.reply(seq).body["state"] == "receiving" for seq in seqs)
        assert_refused(submit(peer, "one-too-many", synthetic.shot.to_dict()), "busy", "waiting for their uploads")
        assert submit(peer, "wait-0", synthetic.shot.to_dict()).body["state"] == "receiving"  # resubmits still work


# -- stalled uploads ----------------------------------------------------------------------------------

def test_attach_to_a_job_waiting_for_uploads_says_what_is_missing(server, synthetic):
    with RawPeer(server.address) as peer:
        submit(peer, "half-sent", synthetic.shot.to_dict(), stream=False)
    with Client(server.address) as client:
        with pytest.raises(VoidError) as err:
            client.attach("half-sent", str(synthetic.shot.output.directory))
    assert err.value.code == "waiting_for_upload"
    assert "24 not uploaded" in err.value.message and "affected/0 1001" in err.value.message
    assert "--job-id half-sent" in err.value.message


def test_a_stalled_upload_is_purged_and_resubmitting_restarts_it(server_factory, synthetic):
    srv = server_factory(extra=["--receive-timeout-hours", "0.0005"])  # 1.8 s
    with RawPeer(srv.address) as peer:
        submit(peer, "stalled", synthetic.shot.to_dict(), stream=False)
        deadline = time.monotonic() + 60
        while peer.request(STATUS, "stalled").body["state"] == "receiving" and time.monotonic() < deadline:
            time.sleep(0.3)
        status = peer.request(STATUS, "stalled").body
    assert status["state"] == "failed" and status["error"]["code"] == "upload_timeout"
    assert "Resubmit the same shot" in status["error"]["message"]
    assert not os.path.isdir(os.path.join(srv.data_dir, "jobs", "stalled", "inputs"))
    with Client(srv.address) as client:
        result = client.run(synthetic.shot, job_id="stalled")
    assert result.frames == list(synthetic.shot.process_frames)


@pytest.mark.slow
def test_a_job_failed_by_worker_crashes_runs_again_when_resubmitted(server, tmp_path):
    shot = make_synthetic_shot(str(tmp_path / "long" / "shot"), frames=40, size=(160, 96)).shot
    with RawPeer(server.address) as peer, Client(server.address) as client:
        submit(peer, "crashy", shot.to_dict(), stream=False)
        client._upload("crashy", shot, peer.request(STATUS, "crashy").body.get("need") or
                       [[r, f] for r, _ in shot.inputs() for f in shot.process_frames], 4, lambda p: None, None)
        peer.request("COMMIT", "crashy")
        kills, deadline = 0, time.monotonic() + 120
        while time.monotonic() < deadline:
            state = peer.request(STATUS, "crashy").body["state"]
            if state == "failed":
                break
            pid = server.worker_pid()
            if state == "running" and pid:
                os.kill(pid, 9)
                kills += 1
                while server.worker_pid() == pid:
                    time.sleep(0.05)
            time.sleep(0.05)
        status = peer.request(STATUS, "crashy").body
        assert status["state"] == "failed" and status["error"]["code"] == "worker_crashed", status
        assert "Resubmit" in status["error"]["message"]
        result = client.run(shot, job_id="crashy")
    assert result.frames == list(shot.process_frames)


# -- inputs that do not fit -----------------------------------------------------------------------

def write_plate_frame(shot, frame, pixels, channels, **spec):
    from void_nuke.exrio import Image, make_spec, write_image

    spec = make_spec(pixels.shape[1], pixels.shape[0], channels, "float16", **spec)
    write_image(shot.plate_sequence.path(frame), Image(pixels.astype(np.float16), spec), overwrite=True)


@pytest.mark.parametrize("frame, words", [(1003, "plate frame 1003 has channels Y: a plate needs R, G and B"),
                                          (1001, "plate frame 1001 has channels Y")])
def test_a_frame_that_does_not_fit_its_sequence_is_refused_by_name(server, synthetic, frame, words):
    shot = synthetic.shot
    write_plate_frame(shot, frame, np.ones((56, 96, 1)), ("Y",))
    with Client(server.address) as client:
        with pytest.raises(VoidError) as err:
            client.run(shot, job_id=f"odd-{frame}")
    assert err.value.code == "inconsistent_frame" and words in err.value.message


def test_shared_storage_inputs_are_checked_when_the_job_starts(server_factory, tmp_path):
    synthetic = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=4, size=(64, 40))
    shot = synthetic.shot
    write_plate_frame(shot, 1002, np.ones((40, 32, 4)), ("R", "G", "B", "A"), full_width=64)  # a narrower window
    srv = server_factory(extra=["--allow-root", str(tmp_path / "storage")])
    with Client(srv.address) as client:
        with pytest.raises(VoidError) as err:
            client.run(shot, transfer="paths")
    assert err.value.code == "inconsistent_frame"
    assert "plate frame 1002 does not match the rest of its sequence: data window 32x40" in err.value.message


def test_a_failed_paths_job_resubmitted_after_its_empty_version_was_given_back_claims_its_own(server_factory,
                                                                                               tmp_path):
    from void_nuke.exrio import read_image, write_image
    from void_nuke.versions import OWNER_FILE

    shot = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=3, size=(48, 32)).shot
    good = read_image(shot.plate_sequence.path(1002))
    write_plate_frame(shot, 1002, np.ones((32, 48, 1)), ("Y",))
    srv = server_factory(extra=["--allow-root", str(tmp_path / "storage")])
    with Client(srv.address) as client:
        with pytest.raises(VoidError):
            client.run(shot, job_id="again", transfer="paths")
        assert os.listdir(shot.output.directory) == []  # its empty v001 was given back...
        write_image(shot.plate_sequence.path(1002), good, overwrite=True)
        other = client.run(shot, job_id="other", transfer="paths")  # ...and another job claimed it
        again = client.run(shot, job_id="again", transfer="paths")  # the fixed shot, resubmitted
    assert other.version_dir.endswith("v001") and again.version_dir.endswith("v002")
    assert again.frames == list(shot.process_frames)
    for result in (other, again):
        with open(os.path.join(result.version_dir, OWNER_FILE), encoding="utf-8") as fh:
            assert fh.read() == result.job_id
        assert sorted(os.listdir(result.version_dir)) == sorted([OWNER_FILE] + [shot.result_name(f) for f in
                                                                                shot.process_frames])


def test_nan_plates_are_filled_inside_kept_outside_and_reported(server, synthetic):
    from void_nuke.exrio import read_image

    shot = synthetic.shot
    plate = read_image(shot.plate_sequence.path(1002))
    pixels = plate.pixels.astype(np.float32)
    remove = read_image(shot.remove[0].pattern.replace("####", "1002")).pixels[:, :, 0] > 0.5
    ys, xs = np.nonzero(remove)
    pixels[ys[0], xs[0], 0] = np.nan  # inside the ball
    pixels[0, 0, 1] = np.inf  # far outside the edit region
    write_plate_frame(shot, 1002, pixels, plate.spec.channels)
    with Client(server.address) as client:
        result = client.run(shot)
    assert [w["code"] for w in result.warnings] == ["nonfinite_plate"]
    assert "1002" in result.warnings[0]["message"]
    out = read_image(os.path.join(result.version_dir, shot.result_name(1002)))
    assert np.isfinite(out.rgb()[remove]).all()
    assert np.isinf(out.pixels[0, 0, 1]) and out.pixels[0, 0, :4].tobytes() == read_image(
        shot.plate_sequence.path(1002)).pixels[0, 0].tobytes()


def test_a_matte_that_removes_nothing_fails_clearly(server, tmp_path):
    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=3, size=(48, 32))
    shot = synthetic.shot.with_changes(remove=(synthetic.shot.remove[0].__class__(
        synthetic.shot.remove[0].pattern, None, True),))  # inverted: 1 - ball; then invert again below
    from void_nuke.exrio import Image, make_spec, write_image

    for f in shot.process_frames:
        write_image(shot.remove[0].pattern.replace("####", str(f)),
                    Image(np.ones((32, 48, 1), np.float16), make_spec(48, 32, ("A",))), overwrite=True)
    with Client(server.address) as client:
        with pytest.raises(VoidError) as err:
            client.run(shot)
        preview = client.run(shot, job_id="peek", preview=True)  # a preview still shows the empty mask
    assert err.value.code == "empty_mask" and "nothing to remove" in err.value.message
    assert "masks.threshold" in err.value.message and preview.frames == list(shot.process_frames)


# -- files on disk ------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_results_follow_the_umask(server_factory, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        synthetic = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=2, size=(48, 32))
        srv = server_factory(extra=["--allow-root", str(tmp_path / "storage")])
        with Client(srv.address) as client:
            pixels = client.run(synthetic.shot)
            paths = client.run(synthetic.shot, transfer="paths")
    finally:
        os.umask(old)
    for folder in (pixels.version_dir, paths.version_dir):  # written by the client, and by the server
        names = os.listdir(folder)
        assert ".void-job" in names and len(names) == 3
        for name in names:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o777 == mode, (folder, name)


def test_a_killed_worker_leaves_no_temporary_file_in_the_delivered_folder(server_factory, tmp_path):
    synthetic = make_synthetic_shot(str(tmp_path / "storage" / "shot"), frames=40, size=(160, 96))
    shot = synthetic.shot
    extra = ["--allow-root", str(tmp_path / "storage")]
    srv = server_factory("data", extra)
    with RawPeer(srv.address) as peer:
        version = submit(peer, "interrupted", shot.to_dict(), "paths", stream=False).body["version"]
        deadline = time.monotonic() + 60
        while not peer.request(STATUS, "interrupted").body["results"] and time.monotonic() < deadline:
            time.sleep(0.05)
    srv.kill9()
    delivered = os.path.join(shot.output.directory, version)
    assert len([n for n in os.listdir(delivered) if n.endswith(".exr")]) < 40, "the kill must interrupt the job"
    stale = os.path.join(delivered, f".{shot.result_name(1040)[:-4]}.0123456789ab.void-tmp.exr")
    with open(stale, "wb") as fh:
        fh.write(b"half an EXR")  # what a worker killed mid-write leaves behind
    restarted = server_factory("data", extra)
    with Client(restarted.address) as client:
        result = client.attach("interrupted", shot.output.directory)
    assert result.frames == list(shot.process_frames)
    assert sorted(os.listdir(delivered)) == sorted([".void-job"] + [shot.result_name(f) for f in shot.process_frames])


# -- the worker channel -------------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["ipc", "curve"])
def test_a_foreign_process_cannot_pose_as_the_worker(server_factory, synthetic, channel):
    import zmq

    srv = server_factory("d", extra=["--worker-channel", channel])
    with Client(srv.address) as client:
        deadline = time.monotonic() + 60
        while not client.hello()["gpu"] and time.monotonic() < deadline:
            time.sleep(0.1)
    with open(os.path.join(srv.data_dir, "private", "worker.json")) as fh:
        config = json.load(fh)
    assert config["endpoint"].startswith("ipc://" if channel == "ipc" else "tcp://127.0.0.1:")
    fake = {"gpu": {"cuda": True, "name": "FORGED", "total_bytes": 1, "free_bytes": 1}}
    peers = [RawPeer(config["endpoint"])]
    if channel == "curve":  # even knowing the server's key, a key pair of its own is not let in
        public, secret = zmq.curve_keypair()
        peers.append(RawPeer(config["endpoint"], curve_serverkey=config["curve"]["server_public"].encode(),
                             curve_publickey=public, curve_secretkey=secret))
    try:
        for peer in peers:
            peer.send(HELLO, body={**fake, "pid": srv.worker_pid(), "token": "guess"})
            peer.send(HELLO, body={**fake, "pid": srv.worker_pid()})
            peer.send("DONE", "forged-job", {"state": "done"})
        with Client(srv.address) as client:
            time.sleep(0.5)
            assert client.hello()["gpu"] == {"cuda": False}
            result = client.run(synthetic.shot, job_id="forged-job")
        assert result.frames == list(synthetic.shot.process_frames)
        for peer in peers:
            assert peer.receive(0.2) is None  # never handed a job
    finally:
        for peer in peers:
            peer.close()
    if channel == "ipc":
        assert any("not this server's worker" in line for line in srv.log)


def test_a_flood_of_one_kind_of_event_logs_a_few_lines_and_a_count():
    import logging

    from void_server.lograte import LogLimiter

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("void_server.test_flood")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    limiter = LogLimiter(logger, burst=5, window=0.2)
    for i in range(100_000):
        limiter.info("malformed", "refused message %d", i)
    time.sleep(0.25)
    limiter.info("malformed", "after the window")
    texts = [r.getMessage() for r in records]
    assert len(texts) == 7 and texts[:5] == [f"refused message {i}" for i in range(5)]
    assert texts[5].startswith("99995 more 'malformed' events") and texts[6] == "after the window"
