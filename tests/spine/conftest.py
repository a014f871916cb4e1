"""Fixtures for the spine: synthetic shots and a real server subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
from typing import Iterator, List, Optional

import pytest

from void_nuke.demo import SyntheticShot, make_synthetic_shot, start_server, stop_server


@pytest.fixture
def synthetic(tmp_path) -> SyntheticShot:
    """A small 8-frame shot: textured background, a ball to remove, its shadow as affected region."""
    return make_synthetic_shot(str(tmp_path / "shot"), frames=8, size=(96, 56))


class ServerProcess:
    """A real void-server subprocess in its own process group (so a test can kill -9 it all)."""

    def __init__(self, data_dir: str, extra: Optional[List[str]] = None) -> None:
        self.data_dir = data_dir
        self.extra = extra or []
        self.proc: Optional[subprocess.Popen] = None
        self.address = ""

    def start(self) -> "ServerProcess":
        self.proc, self.address = start_server(self.data_dir, self.extra)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its worker, like a host crash
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_server(self.proc)


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    srv = ServerProcess(str(tmp_path / "server-data")).start()
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    started: List[ServerProcess] = []

    def make(name: str = "server-data", extra: Optional[List[str]] = None) -> ServerProcess:
        srv = ServerProcess(str(tmp_path / name), extra).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
