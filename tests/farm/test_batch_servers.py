"""Batches against real void-server processes: dead servers, servers that die mid-batch, CURVE keys."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest

from void_nuke.batch import load_shot_list, run_batch
from void_nuke.cli import main
from void_nuke.demo import start_server

from farmshots import shot_list_toml, write_tiny_shot

pytestmark = pytest.mark.server
Start = Callable[..., Tuple[subprocess.Popen, str]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Start]:
    """Start real servers (each in its own process group) on demand; kill every one at the end."""
    started: List[subprocess.Popen] = []

    def start(name: str, *extra: str) -> Tuple[subprocess.Popen, str]:
        proc, address = start_server(str(tmp_path / name), list(extra))
        started.append(proc)
        return proc, address

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _shots(tmp_path: Path, count: int) -> Path:
    names = [f"sh{i:03d}" for i in range(count)]
    for name in names:
        write_tiny_shot(tmp_path / "plates", name, 1001, 1002)
    (tmp_path / "shots.toml").write_text(shot_list_toml(names, "1001-1002"))
    return tmp_path / "shots.toml"


@pytest.mark.slow
def test_fifty_shots_on_four_servers_with_one_dead_and_one_dying_all_finish(servers: Start, tmp_path: Path) -> None:
    """Before: 4 servers, 1 dead, 50 shots left 26 failed. Now the dead one is dropped by the HELLO check,
    a live one killed mid-batch is dropped when it stops answering, and its shots go to the others."""
    live = [servers(f"srv{i}") for i in range(3)]
    dead = f"tcp://127.0.0.1:{_free_port()}"
    shots = load_shot_list(str(_shots(tmp_path, 50)))
    finished = threading.Semaphore(0)

    def kill_one_server_after_ten_shots() -> None:
        for _ in range(10):
            finished.acquire()
        os.killpg(live[2][0].pid, signal.SIGKILL)  # the server and its worker, like a host crash

    killer = threading.Thread(target=kill_one_server_after_ten_shots, daemon=True)
    killer.start()
    report = run_batch(shots, servers=[dead] + [address for _, address in live], jobs=6, timeout=3.0,
                       on_outcome=lambda outcome: finished.release())
    assert [o.status for o in report.outcomes] == ["done"] * 50, report.table()
    assert set(report.unreachable) == {dead, live[2][1]}
    assert not any(o.server == dead for o in report.outcomes)
    for shot, outcome in zip(shots, report.outcomes):
        delivered = sorted(p.name for p in Path(outcome.version_dir).glob(f"{shot.name}.*.exr"))
        assert delivered == [f"{shot.name}.1001.exr", f"{shot.name}.1002.exr"]


def test_batch_takes_servers_and_keys_from_the_environment(servers: Start, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    """Before: batch ignored CURVE keys (the first shot failed after 30 s, the second blocked forever)."""
    keys = tmp_path / "keys"
    made = subprocess.run([sys.executable, "-m", "void_server.cli", "keys", str(keys), "--client", "td"],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    _, address = servers("curve", "--curve-dir", str(keys))
    shots = _shots(tmp_path, 3)
    monkeypatch.setenv("VOID_SERVERS", address)
    monkeypatch.setenv("VOID_SERVER_KEY", str(keys / "server.key"))
    monkeypatch.setenv("VOID_CLIENT_CERT", str(keys / "td.key_secret"))
    argv = ["batch", str(shots), "--only", "sh002", "--only", "sh000", "--json", "--report",
            str(tmp_path / "report.json"), "--log-file", str(tmp_path / "batch.log"), "--timeout", "5"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(s["shot"], s["status"], s["server"]) for s in printed["shots"]] == [
        ("sh000", "done", address), ("sh002", "done", address)]
    assert json.loads((tmp_path / "report.json").read_text()) == printed
    log = (tmp_path / "batch.log").read_text()
    assert f"[sh002] done on {address}" in log and log[:4].isdigit()  # time-stamped lines
    monkeypatch.setenv("VOID_CLIENT_CERT", "")  # a key pair the server does not know: refused, not hung
    assert main(["batch", str(shots), "--only", "sh001", "--timeout", "2"]) == 1
    out = capsys.readouterr().out
    assert "no server left" in out and "sh001" in out
