"""Ctrl-C, a closed terminal and --detach, with real signals sent to real void-nuke processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List

import pytest

from void_nuke.cli import hangup_detaches
from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.errors import Detached, ImageError

VOID_NUKE = [sys.executable, "-m", "void_nuke.cli"]
pytestmark = pytest.mark.slow


class Running:
    """A void-nuke process whose stderr is read line by line as it runs."""

    def __init__(self, *args: object) -> None:
        self.proc = subprocess.Popen(VOID_NUKE + [str(a) for a in args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.err: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.err):
            assert self.proc.poll() is None, f"exited {self.proc.returncode} before {text!r}:\n{''.join(self.err)}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{''.join(self.err)}"
            time.sleep(0.05)

    def finish(self, timeout: float = 120.0) -> "tuple[int, str, str]":
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()  # stderr belongs to the reader thread
        self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode, out, "".join(self.err)


@pytest.fixture(scope="module")
def long_shot(tmp_path_factory: pytest.TempPathFactory):
    """A shot long enough to be interrupted while its engine runs."""
    return make_synthetic_shot(str(tmp_path_factory.mktemp("long") / "shot"), frames=40, size=(256, 144)).shot


def _shot_list(tmp_path: Path, shot, names: List[str]) -> Path:
    lines = ['[defaults]', f'plate = "{shot.plate}"', f'frames = "{shot.frames}"',
             f'remove = "{shot.remove[0].pattern}"', f'output = "{tmp_path / "renders"}"', ""]
    for name in names:
        lines += ["[[shots]]", f'name = "{name}"', f'output = {{ directory = "{tmp_path / "renders" / name}" }}', ""]
    path = tmp_path / "shots.toml"
    path.write_text("\n".join(lines))
    return path


def _job_state(address: str, job: str) -> str:
    with Client(address) as client:
        return str(client.status(job)["state"])


def _wait_state(address: str, job: str, states: "tuple[str, ...]", timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    state = _job_state(address, job)
    while state not in states and time.monotonic() < deadline:
        time.sleep(0.2)
        state = _job_state(address, job)
    return state


def test_ctrl_c_in_an_in_process_batch_cancels_prints_what_finished_and_exits_130(long_shot, tmp_path):
    shots = _shot_list(tmp_path, long_shot, ["sh010", "sh020", "sh030"])
    run = Running("batch", shots)
    run.wait_for("[sh010] engine")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert "terminate called" not in err and "Traceback" not in err
    assert "sh010" in out and "cancelled" in out and "not started: the batch was cancelled" in out
    assert "0 of 3 shot(s) done, 3 not done" in out
    renders = tmp_path / "renders" / "sh010"
    assert not renders.exists() or all(any(v.glob("[!.]*.exr")) for v in renders.glob("v*"))  # no empty versions


def test_ctrl_c_in_a_server_batch_cancels_the_running_shot_on_its_server(long_shot, tmp_path, server):
    shots = _shot_list(tmp_path, long_shot, ["sh010", "sh020"])
    run = Running("batch", shots, "--server", server.address)
    run.wait_for("[sh010] engine")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert "terminate called" not in err and "Traceback" not in err
    assert "0 of 2 shot(s) done, 2 not done" in out
    with Client(server.address) as client:
        jobs = client.status()["jobs"]
    (job,) = [j["job"] for j in jobs if j["shot"] == "sh010"]
    assert _wait_state(server.address, job, ("cancelled",)) == "cancelled"  # not left running there


def test_ctrl_c_in_submit_cancels_the_job_on_the_server(long_shot, tmp_path, server):
    run = Running("submit", "--shot", _shot_file(long_shot, tmp_path), "--server", server.address,
                  "--job-id", "ctrl-c")
    run.wait_for("engine")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130 and "cancelled job ctrl-c on" in err and "Traceback" not in err
    assert _wait_state(server.address, "ctrl-c", ("cancelled",)) == "cancelled"


def test_submit_detach_returns_after_the_upload_and_attach_collects_the_results(long_shot, tmp_path, server):
    shot_file = _shot_file(long_shot, tmp_path)
    detached = subprocess.run(VOID_NUKE + ["submit", "--shot", str(shot_file), "--server", server.address,
                                           "--job-id", "detached", "--detach"],
                              capture_output=True, text=True, timeout=120)
    assert detached.returncode == 0, detached.stderr
    assert "job detached is queued on" in detached.stdout or "job detached is running on" in detached.stdout
    assert f"void-nuke attach detached --out {tmp_path / 'out'} --server {server.address}" in detached.stdout
    assert not (tmp_path / "out").exists()  # nothing written, no version claimed
    attach = subprocess.run(VOID_NUKE + ["attach", "detached", "--out", str(tmp_path / "out"), "--server",
                                         server.address], capture_output=True, text=True, timeout=300)
    assert attach.returncode == 0, attach.stderr
    assert f"wrote 40 frames to {tmp_path / 'out' / 'v001'}" in attach.stdout


def test_a_closed_terminal_leaves_the_job_running(long_shot, tmp_path, server):
    run = Running("submit", "--shot", _shot_file(long_shot, tmp_path), "--server", server.address,
                  "--job-id", "hangup")
    run.wait_for("engine")
    run.proc.send_signal(signal.SIGHUP)
    code, out, err = run.finish()
    assert code == 129 and "the terminal closed; job hangup goes on at" in err and "Traceback" not in err, err
    assert _wait_state(server.address, "hangup", ("done", "failed", "cancelled"), timeout=300) == "done"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_a_hangup_inside_code_that_converts_its_errors_still_detaches():
    """The terminal may close while a result frame is being read or written, inside code that turns
    any Exception into an ImageError: the command must still end as 'detached', not 'bad input'."""
    with pytest.raises(Detached, match="the terminal closed; job j1 goes on at tcp://gpu:5557"):
        with hangup_detaches("j1", "/renders/sh010", "tcp://gpu:5557"):
            try:
                os.kill(os.getpid(), signal.SIGHUP)
                time.sleep(5)
            except Exception as exc:  # as exrio does around a decoder
                raise ImageError(f"cannot read the frame: {exc}") from exc


def _shot_file(shot, tmp_path: Path) -> Path:
    path = tmp_path / "shot.toml"
    shot.with_changes(output=shot.output.__class__(str(tmp_path / "out"), name="demo")).save(str(path))
    return path


def test_ctrl_c_in_run_keeps_the_frames_and_the_same_job_id_continues_in_its_folder(long_shot, tmp_path):
    shot_file = _shot_file(long_shot, tmp_path)
    run = Running("run", "--shot", shot_file, "--job-id", "again")
    deadline = time.monotonic() + 120
    # interrupt once a frame is delivered (not while the first is still a hidden temporary file)
    while not list((tmp_path / "out").glob("v001/[!.]*.exr")):
        assert run.proc.poll() is None and time.monotonic() < deadline, "".join(run.err)
        time.sleep(0.02)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130 and "--job-id again continues from there" in err and "Traceback" not in err
    kept = sorted(p.name for p in (tmp_path / "out" / "v001").glob("[!.]*.exr"))
    assert 0 < len(kept) < 40
    mtimes = {n: (tmp_path / "out" / "v001" / n).stat().st_mtime_ns for n in kept}
    again = subprocess.run(VOID_NUKE + ["run", "--shot", str(shot_file), "--job-id", "again"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"wrote 40 frames to {tmp_path / 'out' / 'v001'}" in again.stdout
    assert {n: (tmp_path / "out" / "v001" / n).stat().st_mtime_ns for n in kept} == mtimes  # not written again
    assert not (tmp_path / "out" / "v002").exists()
