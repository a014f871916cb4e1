"""Fixtures for the spine: synthetic shots and a real server subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Iterator, List, Optional

import pytest

from void_nuke.demo import SyntheticShot, make_synthetic_shot, start_server, stop_server


@pytest.fixture
def synthetic(tmp_path) -> SyntheticShot:
    """A small 8-frame shot: textured background, a ball to remove, its shadow as affected region."""
    return make_synthetic_shot(str(tmp_path / "shot"), frames=8, size=(96, 56))


class ServerProcess:
    """A real void-server subprocess in its own process group (so a test can kill -9 it all).

    Its output is read continuously into ``log`` (a full pipe would stall the server).
    """

    def __init__(self, data_dir: str, extra: Optional[List[str]] = None) -> None:
        self.data_dir = data_dir
        self.extra = extra or []
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""
        self.log: List[str] = []

    def start(self) -> "ServerProcess":
        self.proc, self.address = start_server(self.data_dir, self.extra)
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        return self

    @property
    def output(self) -> str:
        """Everything the server printed after its 'listening' line (complete once it stopped)."""
        return "".join(self.log)

    def _read_log(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.log.append(line)

    def worker_pid(self) -> Optional[int]:
        """The worker process the server started (its only child)."""
        assert self.proc is not None
        children = []
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/children") as fh:
                children += [int(p) for p in fh.read().split()]
        return children[0] if children else None

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its worker, like a host crash
        self.proc.wait()
        self._reader.join(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_server(self.proc)
            self._reader.join(10)


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    srv = ServerProcess(str(tmp_path / "server-data")).start()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    started: List[ServerProcess] = []

    def make(name: str = "server-data", extra: Optional[List[str]] = None,
             data_dir: Optional[str] = None) -> ServerProcess:
        srv = ServerProcess(data_dir or str(tmp_path / name), extra).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
