"""Failures speak: an engine that fails reaches the user as what failed, on which frame, what to do
and a trace id; the full traceback is in the server log (or the job folder's log) under that id.

The failing engine is a real plugin, registered through the ``void_nuke.engines`` entry-point group
of an installed distribution (a ``.dist-info`` folder on PYTHONPATH), and it fails inside OpenCV
itself: ``cv2.remap`` refuses maps of 32,767 rows or more, as the classic engine once did on large
edit regions.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from void_nuke.errors import VoidError
from void_nuke.plugins import engine_entry_points

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]
FAIL_ON = 1003
TRACE = re.compile(r"trace id ([0-9a-f]{8})\b")

PLUGIN = textwrap.dedent('''
    """A test engine: copies the plate, and on one frame runs into OpenCV's map-size limit
    (or, with the option crash = 1, reads address 0 and dies of a segmentation fault)."""
    import ctypes

    import cv2
    import numpy as np

    from void_server.engines.base import Engine, WorkUnit


    class FailingEngine(Engine):
        name = "failing"

        def plan(self, job):
            return [WorkUnit(i, tuple(job.frames[i:i + 4])) for i in range(0, len(job.frames), 4)]

        def run(self, job, unit, progress):
            fail_on = int(job.shot.engine.options["fail_on"])
            for frame in unit.frames:
                rgb = job.plate(frame)
                if frame == fail_on and job.shot.engine.options.get("crash"):
                    ctypes.string_at(0)
                if frame == fail_on:
                    rows = np.zeros((40000, 1), np.float32)
                    rgb = cv2.remap(rgb, rows, rows, cv2.INTER_LINEAR)
                yield frame, rgb


    def create_engine(settings):
        return FailingEngine()
''')


@pytest.fixture
def plugin_path(tmp_path, monkeypatch) -> str:
    """A folder holding the plugin module and its distribution's entry points, first on PYTHONPATH."""
    folder = tmp_path / "plugins"
    dist = folder / "void_failing_engine-1.0.dist-info"
    dist.mkdir(parents=True)
    (folder / "void_failing_engine.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: void-failing-engine\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[void_nuke.engines]\nfailing = void_failing_engine:create_engine\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    return str(folder)


def failing_shot_file(synthetic, tmp_path, **options) -> str:
    data = synthetic.shot.to_dict()
    data["engine"] = {"name": "failing", "options": {"fail_on": FAIL_ON, **options}}
    data["output"] = {"directory": str(tmp_path / "out")}
    path = tmp_path / "failing.json"
    path.write_text(json.dumps(data))
    return str(path)


def cli(*args, timeout=180):
    return subprocess.run(VOID_NUKE + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def assert_speaks(stderr: str) -> str:
    """One line naming the engine, the frame, OpenCV's complaint and what to do; returns the trace id."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "failed on frame" in line]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert f"the failing engine failed on frame {FAIL_ON}: cv2.error: (-215:Assertion failed)" in line
    assert "remap" in line and "run the job again" in line and "error: error" not in line
    match = TRACE.search(line)
    assert match, line
    return match.group(1)


def test_an_engine_failure_through_the_server_names_the_frame_and_logs_the_traceback(
        server_factory, synthetic, tmp_path, plugin_path):
    srv = server_factory()
    shot_file = failing_shot_file(synthetic, tmp_path)
    done = cli("submit", "--shot", shot_file, "--server", srv.address, "--job-id", "fails-at-1003")
    assert done.returncode == 1, done.stdout + done.stderr
    trace = assert_speaks(done.stderr)

    status = cli("status", "fails-at-1003", "--server", srv.address)
    assert status.returncode == 1, status.stderr  # status JOB exits with the job's state
    assert f"failed on frame {FAIL_ON}" in status.stdout and f"trace id {trace}" in status.stdout
    assert "error: error" not in status.stdout and "Traceback" not in status.stdout

    srv.stop()
    log = srv.output
    entry = log[log.index(f"job fails-at-1003 failed (trace id {trace})"):]
    assert "Traceback (most recent call last)" in entry and "cv2.error" in entry
    assert "void_failing_engine.py" in entry  # the engine's own line, for whoever fixes it


def test_the_wire_carries_the_trace_id_and_frame_but_never_the_traceback(server_factory, synthetic, tmp_path,
                                                                          plugin_path, monkeypatch):
    from void_nuke.client import Client
    from void_nuke.shot import Shot

    srv = server_factory()
    monkeypatch.syspath_prepend(plugin_path)
    engine_entry_points.cache_clear()
    try:
        shot = Shot.load(failing_shot_file(synthetic, tmp_path))
        with Client(srv.address) as client, pytest.raises(VoidError) as caught:
            client.run(shot, "wire-check")
        with Client(srv.address) as client:
            body = client.status("wire-check")
    finally:
        engine_entry_points.cache_clear()
    err = caught.value
    assert err.code == "engine_failed" and err.detail["frame"] == FAIL_ON and err.detail["stage"] == "engine"
    assert re.fullmatch(r"[0-9a-f]{8}", err.detail["trace_id"])
    assert body["error"]["detail"]["trace_id"] == err.detail["trace_id"]
    assert "Traceback" not in json.dumps(body) and "traceback" not in body["error"]["detail"]


def test_run_in_process_prints_one_line_and_keeps_the_traceback_in_the_job_folder(synthetic, tmp_path,
                                                                                   plugin_path):
    work = tmp_path / "work"
    done = cli("run", "--shot", failing_shot_file(synthetic, tmp_path), "--work-dir", work,
               "--job-id", "local-fail")
    assert done.returncode == 1, done.stdout + done.stderr
    trace = assert_speaks(done.stderr)
    log_file = work / "jobs" / "local-fail" / "failures.log"
    assert f"full traceback in {log_file}" in done.stderr
    text = log_file.read_text()
    assert f"job local-fail failed (trace id {trace})" in text
    assert "Traceback (most recent call last)" in text and "cv2.error" in text
    # the frames before the failure were delivered and stay, so a rerun resumes there
    delivered = sorted(n for n in os.listdir(tmp_path / "out" / "v001") if n.endswith(".exr"))
    assert delivered == [f"plate.{f}.exr" for f in range(1001, FAIL_ON)]


def test_run_keeps_job_state_in_the_cache_folders_jobs_folder(synthetic, tmp_path, plugin_path, monkeypatch):
    """Without --work-dir a job's state goes to $VOID_CACHE_DIR/jobs/<job id>, where a retry finds it."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VOID_CACHE_DIR", str(cache))
    done = cli("run", "--shot", failing_shot_file(synthetic, tmp_path), "--job-id", "cached-fail")
    assert done.returncode == 1, done.stdout + done.stderr
    assert (cache / "jobs" / "cached-fail" / "failures.log").is_file()
    assert not (cache / "jobs" / "jobs").exists()


@pytest.mark.slow
def test_an_engine_that_kills_the_worker_fails_the_job_with_the_frame_and_the_stack_in_the_log(
        server_factory, synthetic, tmp_path, plugin_path):
    srv = server_factory()
    done = cli("submit", "--shot", failing_shot_file(synthetic, tmp_path, crash=1), "--server", srv.address,
               "--job-id", "segfaults")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    line = next(line for line in done.stderr.splitlines() if "worker process died" in line)
    assert f"died 3 times running this job on frame {FAIL_ON}" in line and "report it" in line
    trace = TRACE.search(line).group(1)
    srv.stop()
    log = srv.output
    assert log.count("Fatal Python error: Segmentation fault") == 3
    assert "void_failing_engine.py" in log  # the worker's Python stack at the crash
    assert f"job segfaults failed (trace id {trace})" in log


def test_unknown_engines_are_refused_with_the_installed_ones_named():
    from void_nuke.shot import EngineSettings
    from void_nuke.errors import ShotError

    with pytest.raises(ShotError, match="unknown engine 'magic'; choose one of classic, void"):
        EngineSettings(name="magic")
