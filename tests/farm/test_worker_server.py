"""The farm worker's own void-server: started by a render step's environment, stopped at its end."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from void_nuke.client import Client
from void_nuke.cli import main
from void_nuke.errors import VoidError
from void_nuke.farm.worker_server import server_state, shot_roots, start_worker_server, stop_worker_server

pytestmark = pytest.mark.server


def test_start_answers_hello_exports_the_address_and_stop_ends_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "srv"
    assert main(["farm", "server", "start", "--data", str(data), "--memory-mode", "model_offload"]) == 0
    out = capsys.readouterr().out
    address = out.split("openjd_env: VOID_RUN_SERVER=")[1].strip()
    assert address.startswith("tcp://127.0.0.1:")
    with Client(address, timeout=20) as client:
        assert client.hello()["engines"]["void"]["memory_mode"] == "model_offload"
    assert start_worker_server(str(data)) == address  # entering the environment again reuses it
    pid = server_state(str(data))["pid"]
    assert main(["farm", "server", "stop", "--data", str(data)]) == 0
    assert f"void-server at {address} stopped" in capsys.readouterr().out
    assert server_state(str(data)) is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert stop_worker_server(str(data)) is None


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOID_MEMORY_MODE", "fp4")
    with pytest.raises(VoidError, match=r"(?s)exited with code 2.*VOID_MEMORY_MODE 'fp4' is not a memory mode"):
        start_worker_server(str(tmp_path / "srv"))


def test_run_delivers_through_the_worker_server_into_the_named_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """VOID_RUN_SERVER (set by the render step's environment) sends the task to the worker's loopback
    server, without the CURVE keys a workstation's environment may hold for the studio's servers."""
    import zmq

    from farmshots import shot_list_toml, write_tiny_shot
    from void_nuke.batch import load_shot_list

    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1003)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1003"))
    shot = load_shot_list(str(tmp_path / "shots.toml"))[0]
    shot.save(str(tmp_path / "sh010.toml"))
    address = start_worker_server(str(tmp_path / "srv"), allow_roots=shot_roots([shot]))
    try:
        monkeypatch.setenv("VOID_RUN_SERVER", address)
        monkeypatch.setenv("VOID_SERVER_KEY", zmq.curve_keypair()[0].decode())
        assert main(["run", "--shot", str(tmp_path / "sh010.toml"), "--job-id", "sh010-v003-1001",
                     "--version", "v003"]) == 0
    finally:
        stop_worker_server(str(tmp_path / "srv"))
    assert f"wrote 3 frames to {tmp_path / 'renders' / 'v003'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "renders" / "v003").glob("*.exr")) == [
        "sh010.1001.exr", "sh010.1002.exr", "sh010.1003.exr"]
    assert not (tmp_path / "renders" / "v001").exists()  # the server used the job's folder, claimed nothing


def test_a_cancelled_task_cancels_its_job_on_the_worker_server(tmp_path: Path) -> None:
    """A farm cancels a task with SIGTERM: the job stops on the server too, so the worker's next task
    does not wait behind it."""
    import signal
    import subprocess
    import sys

    from void_nuke.demo import make_synthetic_shot

    synthetic = make_synthetic_shot(str(tmp_path / "shot"), frames=48, size=(640, 360))
    synthetic.shot.save(str(tmp_path / "shot.toml"))
    address = start_worker_server(str(tmp_path / "srv"), allow_roots=shot_roots([synthetic.shot]))
    try:
        env = dict(os.environ, VOID_RUN_SERVER=address)
        proc = subprocess.Popen([sys.executable, "-m", "void_nuke.cli", "run", "--shot", str(tmp_path / "shot.toml"),
                                 "--job-id", "shot-v001-1", "--version", "v001"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in proc.stderr:  # progress lines: the job is running on the server
            if " masks " in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        with Client(address, timeout=20) as client:
            assert client.status("shot-v001-1")["state"] == "cancelled"
    finally:
        stop_worker_server(str(tmp_path / "srv"))


def test_the_worker_server_may_use_only_the_folders_of_the_jobs_shots(tmp_path: Path) -> None:
    """It serves paths-mode tasks: its allowed roots are the shots' input and output folders."""
    from farmshots import shot_list_toml, write_tiny_shot
    from void_nuke.batch import load_shot_list

    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1003)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1003"))
    shot = load_shot_list(str(tmp_path / "shots.toml"))[0]
    (tmp_path / "job" / "shots").mkdir(parents=True)
    shot.save(str(tmp_path / "job" / "shots" / "sh010.toml"))
    assert main(["farm", "server", "start", "--data", str(tmp_path / "srv"),
                 "--shots", str(tmp_path / "job" / "shots")]) == 0
    try:
        address = server_state(str(tmp_path / "srv"))["address"]
        with Client(address, timeout=20) as client:
            elsewhere = shot.with_changes(plate="/etc/sh010.####.exr")
            with pytest.raises(VoidError, match="allowed roots: ") as err:
                client.run(elsewhere, job_id="elsewhere", transfer="paths")
            assert err.value.code == "forbidden_path"
            assert client.run(shot, job_id="fine", transfer="paths").frames == [1001, 1002, 1003]
    finally:
        stop_worker_server(str(tmp_path / "srv"))
