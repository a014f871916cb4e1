"""The panel's Qt-free core: server polling, job rows, log, actions."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

import pytest

from void_nuke.errors import ServerUnreachable
from void_nuke.panel_model import (JobInfo, PanelActions, PanelModel, ServerRow, describe_progress, format_bytes,
                                   format_eta)
from void_nuke.progress import Progress

STATUS = {"version": "0.1.0", "queue": 2, "running": "sh010-aa",
          "engines": {"classic": {"available": True}, "void": {"available": False, "reason": "no weights"}},
          "gpu": {"cuda": True, "name": "NVIDIA H100", "free_bytes": 40 * 1024 ** 3, "total_bytes": 80 * 1024 ** 3},
          "jobs": [{"job": "sh020-bb", "state": "queued", "shot": "sh020", "frames": "1-10",
                    "progress": {"stage": "queued", "fraction": 0.0}, "error": None}]}


class StatusClient:
    """Answers ``status()`` per address: a dict, or an exception to raise."""

    answers: Dict[str, Any] = {}
    cancelled: List[str] = []

    def __init__(self, address: str) -> None:
        self.address = address
        self.closed = False

    def status(self) -> Dict[str, Any]:
        answer = self.answers[self.address]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def cancel(self, job_id: str) -> Dict[str, Any]:
        StatusClient.cancelled.append(job_id)
        return {}

    def close(self) -> None:
        self.closed = True


class Actions(PanelActions):
    def __init__(self) -> None:
        self.calls: List[tuple] = []

    def cancel(self, job_id: str) -> None:
        self.calls.append(("cancel", job_id))

    def reload(self, job_id: str) -> None:
        self.calls.append(("reload", job_id))


def _info(job_id: str = "sh010-aa", state: str = "running", message: str = "") -> JobInfo:
    return JobInfo(job_id, "tcp://gpu:5557", "/out/sh010", "sh010", 4, 1001, 1010, "h" * 64, False, state,
                   message, "VOID1")


@pytest.fixture()
def model() -> PanelModel:
    StatusClient.answers = {"tcp://gpu:5557": STATUS,
                            "tcp://down:5557": ServerUnreachable("no answer from tcp://down:5557 within 3 s"),
                            "tcp://bad": ValueError("invalid endpoint")}
    StatusClient.cancelled = []
    return PanelModel(["tcp://gpu:5557", "tcp://down:5557"], client_factory=StatusClient, actions=Actions(),
                      clock=lambda: 100.0)


def test_formatting_helpers() -> None:
    assert [format_eta(v) for v in (None, 42, 185, 3720)] == ["", "42s", "3m05s", "1h02m"]
    assert format_bytes(40 * 1024 ** 3) == "40.0 GiB" and format_bytes(None) == ""
    line = describe_progress(Progress("j", "engine", 1012, 3, 10, 0.456, 80.0, "window 2/4"))
    assert line == "engine 46% · frame 1012 · ETA 1m20s · window 2/4"
    assert describe_progress(Progress("j", "queued")) == "queued 0%"


def test_server_rows_show_health_engines_gpu_vram_and_queue(model: PanelModel) -> None:
    row = ServerRow.from_status("tcp://gpu:5557", STATUS)
    assert (row.state, row.engines, row.gpu, row.free_vram, row.queue, row.running) == \
        ("ok", "classic", "NVIDIA H100", "40.0 GiB", 2, "sh010-aa")
    assert ServerRow.from_status("a", {"gpu": {"cuda": False}}).gpu == "no GPU"


def test_polling_records_each_servers_state_and_logs_changes(model: PanelModel) -> None:
    before = model.revision
    model.add_server("tcp://bad")
    model.add_server("tcp://bad")
    model.poll_servers()
    rows = {r.address: r for r in model.servers()}
    assert [r.address for r in model.servers()] == ["tcp://gpu:5557", "tcp://down:5557", "tcp://bad"]
    assert rows["tcp://gpu:5557"].state == "ok"
    assert rows["tcp://down:5557"].state == "unreachable" and "no answer" in rows["tcp://down:5557"].message
    assert rows["tcp://bad"].state == "error" and "invalid endpoint" in rows["tcp://bad"].message
    assert model.revision > before
    texts = [line.text for line in model.log_lines()]
    assert any(t.startswith("tcp://down:5557: unreachable") for t in texts)
    model.poll_servers()
    assert [line.text for line in model.log_lines()] == texts, "an unchanged state is not logged again"
    model.remove_server("tcp://bad")
    assert [r.address for r in model.servers()] == ["tcp://gpu:5557", "tcp://down:5557"]


def test_server_jobs_appear_but_never_override_a_live_local_job(model: PanelModel) -> None:
    model.job_started(_info())
    model.job_progress(_info(), Progress("sh010-aa", "engine", 1003, 3, 10, 0.3, 65.0, ""))
    model.poll_servers()
    rows = {r.job_id: r for r in model.jobs()}
    assert rows["sh010-aa"].stage == "engine" and rows["sh010-aa"].eta == "1m05s" and rows["sh010-aa"].local
    assert rows["sh020-bb"].state == "queued" and rows["sh020-bb"].server == "tcp://gpu:5557"
    assert not rows["sh020-bb"].local


def test_job_lifecycle_rows_and_log(model: PanelModel) -> None:
    model.job_started(_info())
    assert model.job("sh010-aa").node == "VOID1" and model.job("sh010-aa").frames == "1001-1010"
    model.job_started(dataclasses.replace(_info("sh010-st"), view="left"))
    assert model.job("sh010-st").node == "VOID1 (left)", "a stereo job says which view it sent"
    model.job_finished(_info(state="failed", message="GPU out of memory"), None)
    row = model.job("sh010-aa")
    assert (row.state, row.message, row.folder) == ("failed", "GPU out of memory", "/out/sh010")
    assert model.log_lines()[-1].level == "error" and "GPU out of memory" in model.log_lines()[-1].text
    model.job_finished(_info(state="done"), "/out/sh010/v003")
    assert model.job("sh010-aa").folder == "/out/sh010/v003" and model.job("sh010-aa").percent == 100


def test_cancel_and_reload_go_to_the_node_for_local_jobs_and_to_the_server_otherwise(model: PanelModel) -> None:
    model.job_started(_info())
    model.poll_servers()
    model.cancel("sh010-aa")
    model.cancel("sh020-bb")
    model.reload("sh010-aa")
    model.reload("sh020-bb")
    assert model.actions.calls == [("cancel", "sh010-aa"), ("reload", "sh010-aa")]  # type: ignore[union-attr]
    assert StatusClient.cancelled == ["sh020-bb"]
    model.job_finished(_info(state="done"), None)
    model.cancel("sh010-aa")
    assert len(model.actions.calls) == 2, "a finished job is not cancelled"  # type: ignore[union-attr]


def test_the_log_is_bounded() -> None:
    model = PanelModel(max_log=3)
    for i in range(5):
        model.log(f"line {i}")
    assert [line.text for line in model.log_lines()] == ["line 2", "line 3", "line 4"]

