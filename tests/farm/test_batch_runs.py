"""Batch runs: shot lists, concurrency, server choice, failures that do not stop the others."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from void_nuke.batch import (BatchReport, ShotOutcome, load_shot_list, merge_tables, run_batch, select_shots,
                              servers_from_env, shots_from_dict)
from void_nuke.cli import main
from void_nuke.errors import Cancelled, ImageError, ServerUnreachable, ShotError, VoidError
from void_nuke.progress import Progress
from void_nuke.results import RunResult
from void_nuke.shot import Shot

from farmshots import shot_list_toml, write_tiny_shot


def _shot(name: str, out: str = "/tmp/out") -> Shot:
    return Shot.from_dict({"name": name, "plate": f"/plates/{name}.####.exr", "frames": "1-3",
                           "remove": f"/plates/{name}_m.####.exr", "output": out})


# -- shot lists ---------------------------------------------------------------------------------

def test_defaults_merge_under_each_shot_and_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "list.toml").write_text("""
[defaults]
frames = "1001-1010"
engine = { name = "classic", steps = 12, options = { radius = 3 } }
output = "renders"
masks = { feather = 4.0 }

[[shots]]
plate = "plates/a.####.exr"
remove = "plates/a_m.####.exr"

[[shots]]
name = "b"
plate = "/abs/b.####.exr"
remove = "plates/b_m.####.exr"
frames = "1-5"
engine = { seed = 7, options = { iterations = 2 } }
output = { name = "b_clean" }
""")
    a, b = load_shot_list(str(tmp_path / "list.toml"))
    assert a.plate == str(tmp_path / "plates" / "a.####.exr")
    assert a.output.directory == str(tmp_path / "renders")
    assert (a.engine.steps, a.engine.seed, a.engine.options) == (12, 42, {"radius": 3})
    assert a.masks.feather == 4.0
    assert b.plate == "/abs/b.####.exr" and str(b.frames) == "1-5"
    assert (b.engine.name, b.engine.steps, b.engine.seed) == ("classic", 12, 7)
    assert b.engine.options == {"radius": 3, "iterations": 2}  # tables merge key by key
    assert b.output.directory == str(tmp_path / "renders") and b.output.name == "b_clean"


def test_yaml_and_json_lists_read_the_same(tmp_path: Path) -> None:
    data = {"defaults": {"frames": "1-4", "output": "out"},
            "shots": [{"plate": "p/x.####.exr", "remove": "p/x_m.####.exr"}]}
    (tmp_path / "l.json").write_text(json.dumps(data))
    import yaml
    (tmp_path / "l.yaml").write_text(yaml.safe_dump(data))
    from_json = load_shot_list(str(tmp_path / "l.json"))
    from_yaml = load_shot_list(str(tmp_path / "l.yaml"))
    assert [s.to_dict() for s in from_json] == [s.to_dict() for s in from_yaml]
    assert from_json[0].plate == str(tmp_path / "p" / "x.####.exr")


def test_a_single_shot_file_is_a_list_of_one(tmp_path: Path) -> None:
    _shot("solo", str(tmp_path / "o")).save(str(tmp_path / "solo.toml"))
    shots = load_shot_list(str(tmp_path / "solo.toml"))
    assert [s.name for s in shots] == ["solo"]


def test_list_errors_name_the_entry_and_field() -> None:
    data = {"defaults": {"frames": "1-4", "output": "out"},
            "shots": [{"plate": "a.####.exr", "remove": "m.####.exr"},
                      {"name": "bad", "plate": "b.####.exr", "remove": "m.####.exr", "engine": {"steps": 0}}]}
    with pytest.raises(ShotError, match=r"shots\[1\] \(bad\)\.engine\.steps"):
        shots_from_dict(data, "/base")
    with pytest.raises(ShotError, match="unique"):
        shots_from_dict({"shots": [{"plate": "a.####.exr", "frames": "1", "remove": "m.####.exr",
                                    "output": "o"}] * 2}, "/base")
    with pytest.raises(ShotError, match="at least one shot"):
        shots_from_dict({"defaults": {}}, "/base")
    with pytest.raises(ShotError, match="unknown key"):
        shots_from_dict({"shot": []}, "/base")


def test_merge_tables_replaces_lists_and_leaves_inputs_alone() -> None:
    base = {"remove": ["a"], "engine": {"name": "classic", "options": {"x": 1}}}
    over = {"remove": ["b"], "engine": {"options": {"y": 2}}}
    merged = merge_tables(base, over)
    assert merged == {"remove": ["b"], "engine": {"name": "classic", "options": {"x": 1, "y": 2}}}
    assert base["engine"]["options"] == {"x": 1}


# -- running with an injected runner --------------------------------------------------------------

class FakeRunner:
    """Records concurrency; fails the shots named in ``fail``."""

    def __init__(self, fail: Dict[str, Exception], delay: float = 0.05) -> None:
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls: List[tuple] = []

    def __call__(self, shot: Shot, job_id: str, server: Optional[str], on_progress: Any,
                 cancel: threading.Event) -> RunResult:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.calls.append((shot.name, job_id, server, threading.current_thread().name))
        try:
            on_progress(Progress(job_id, "engine", 1, 1, 2, 0.5, None, "half"))
            time.sleep(self.delay)
            if shot.name in self.fail:
                raise self.fail[shot.name]
            return RunResult(job_id=job_id, version_dir=f"/out/{shot.name}/v001", frames=[1, 2, 3])
        finally:
            with self.lock:
                self.running -= 1


def test_failures_do_not_stop_the_other_shots() -> None:
    shots = [_shot(n) for n in ("a", "b", "c", "d", "e")]
    runner = FakeRunner({"b": ImageError("plate: 3 frame(s) missing"), "d": RuntimeError("boom")})
    seen: List[str] = []
    report = run_batch(shots, jobs=2, runner=runner, on_progress=lambda s, p: seen.append(s.name))
    assert [o.shot.name for o in report.outcomes] == ["a", "b", "c", "d", "e"]
    assert [o.status for o in report.outcomes] == ["done", "failed", "done", "failed", "done"]
    assert report.outcomes[1].error == "plate: 3 frame(s) missing"
    assert report.outcomes[3].error == "RuntimeError: boom"
    assert report.outcomes[0].frames == 3 and report.outcomes[0].version_dir == "/out/a/v001"
    assert report.exit_code == 1
    assert sorted(seen) == ["a", "b", "c", "d", "e"]
    assert runner.peak <= 2
    table = report.table()
    assert "3 of 5 shot(s) done, 2 not done" in table
    assert "RuntimeError: boom" in table and "/out/c/v001" in table


def test_concurrency_limit_holds_and_each_thread_runs_several_shots() -> None:
    runner = FakeRunner({}, delay=0.02)
    report = run_batch([_shot(f"s{i}") for i in range(8)], jobs=3, runner=runner)
    assert report.exit_code == 0
    assert runner.peak <= 3
    assert len({c[3] for c in runner.calls}) <= 3
    assert len({c[1] for c in runner.calls}) == 8  # a fresh job id per shot
    assert all(c[1].startswith(c[0] + "-") for c in runner.calls)


def test_shots_go_to_the_least_busy_server() -> None:
    """With one slow server and one fast, the fast one takes the shots freed up first."""
    per_server: Dict[str, int] = {"tcp://slow": 0, "tcp://fast": 0}
    started = threading.Event()

    def runner(shot: Shot, job_id: str, server: Optional[str], on_progress: Any, cancel: threading.Event) -> Any:
        per_server[server] += 1
        if server == "tcp://slow":
            started.set()
            time.sleep(0.4)
        return RunResult(job_id, "/v", [1])

    report = run_batch([_shot(f"s{i}") for i in range(6)], servers=["tcp://slow", "tcp://fast"], jobs=2,
                       runner=runner)
    assert report.exit_code == 0
    assert per_server["tcp://slow"] == 1 and per_server["tcp://fast"] == 5
    assert {o.server for o in report.outcomes} == {"tcp://slow", "tcp://fast"}


def test_in_process_batches_default_to_one_shot_at_a_time() -> None:
    runner = FakeRunner({}, delay=0.01)
    run_batch([_shot(f"s{i}") for i in range(4)], runner=runner)
    assert runner.peak == 1
    assert {c[2] for c in runner.calls} == {None}


def test_cancel_marks_running_and_waiting_shots_cancelled() -> None:
    cancel = threading.Event()

    def runner(shot: Shot, job_id: str, server: Optional[str], on_progress: Any, ev: threading.Event) -> Any:
        cancel.set()
        raise Cancelled()

    report = run_batch([_shot("a"), _shot("b"), _shot("c")], runner=runner, cancel_event=cancel)
    assert [o.status for o in report.outcomes] == ["cancelled"] * 3
    assert "not started" in report.outcomes[2].error
    assert report.exit_code == 130


def test_report_exit_codes() -> None:
    shot = _shot("a")
    assert BatchReport([ShotOutcome(shot, "done")]).exit_code == 0
    assert BatchReport([ShotOutcome(shot, "done"), ShotOutcome(shot, "failed")]).exit_code == 1


# -- real in-process runs ------------------------------------------------------------------------

@pytest.mark.server
def test_cli_batch_runs_good_shots_in_process_and_fails_on_the_broken_one(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("sh010", "sh020"):
        write_tiny_shot(tmp_path / "plates", name, 1001, 1004)
    # sh030's plate lacks frame 1003: it fails, the others still finish.
    write_tiny_shot(tmp_path / "plates", "sh030", 1001, 1004)
    (tmp_path / "plates" / "sh030.1003.exr").unlink()
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010", "sh030", "sh020"], "1001-1004"))

    code = main(["batch", str(tmp_path / "shots.toml")])
    out = capsys.readouterr()
    assert code == 1
    assert "2 of 3 shot(s) done, 1 not done" in out.out
    assert "1003" in out.out  # the missing frame is named
    for name in ("sh010", "sh020"):
        results = sorted((tmp_path / "renders").glob(f"v*/{name}.*.exr"))
        assert [p.name for p in results] == [f"{name}.{f}.exr" for f in range(1001, 1005)]
    assert not list((tmp_path / "renders").glob("v*/sh030.*.exr"))
    assert "[sh010]" in out.err


# -- servers that fail, retries, shot selection ----------------------------------------------------

def test_a_server_that_does_not_answer_hello_gets_no_shots() -> None:
    """Before: a dead server fails fastest, so 'fewest in flight' kept choosing it."""
    runner = FakeRunner({}, delay=0.01)
    dropped: List[str] = []

    def probe(server: str) -> None:
        if server == "tcp://dead":
            raise ServerUnreachable("no answer from tcp://dead within 1 s")

    report = run_batch([_shot(f"s{i}") for i in range(20)], servers=["tcp://dead", "tcp://a", "tcp://b"], jobs=4,
                       runner=runner, probe=probe, on_server_down=lambda s, why: dropped.append(s))
    assert report.exit_code == 0 and len(report.outcomes) == 20
    assert {c[2] for c in runner.calls} == {"tcp://a", "tcp://b"}
    assert dropped == ["tcp://dead"] and "no answer" in report.unreachable["tcp://dead"]


def test_shots_move_off_a_server_that_stops_answering_and_keep_their_job_id() -> None:
    calls: List[tuple] = []

    def runner(shot: Shot, job_id: str, server: Optional[str], on_progress: Any, cancel: threading.Event) -> Any:
        calls.append((shot.name, job_id, server))
        if server == "tcp://flaky":
            time.sleep(0.02)
            raise ServerUnreachable("lost contact with tcp://flaky")
        return RunResult(job_id, f"/out/{shot.name}/v001", [1])

    report = run_batch([_shot(f"s{i}") for i in range(6)], servers=["tcp://flaky", "tcp://ok"], jobs=2,
                       runner=runner, probe=lambda s: None)
    assert [o.status for o in report.outcomes] == ["done"] * 6
    assert {o.server for o in report.outcomes} == {"tcp://ok"}
    moved = [o for o in report.outcomes if o.attempts == 2]
    assert moved  # the shot on the flaky server when it went away ran again elsewhere ...
    for o in moved:  # ... under its first job id, so it resumes into the same version folder
        assert [c[1] for c in calls if c[0] == o.shot.name] == [o.job_id, o.job_id]
    assert list(report.unreachable) == ["tcp://flaky"]


def test_no_server_left_fails_the_shots_with_the_reasons() -> None:
    def probe(server: str) -> None:
        raise ServerUnreachable(f"could not send to {server} within 1 s")

    report = run_batch([_shot("a"), _shot("b")], servers=["tcp://x", "tcp://y"], runner=FakeRunner({}),
                       probe=probe)
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert "no server left" in report.outcomes[0].error and "tcp://y: could not send" in report.outcomes[0].error
    assert report.to_dict()["unreachable_servers"].keys() == {"tcp://x", "tcp://y"}


def test_retries_resume_the_same_job_and_bad_input_is_not_retried() -> None:
    seen: Dict[str, List[str]] = {}

    def runner(shot: Shot, job_id: str, server: Optional[str], on_progress: Any, cancel: threading.Event) -> Any:
        seen.setdefault(shot.name, []).append(job_id)
        if shot.name == "bad":
            raise ImageError("plate: 2 frame(s) missing")
        if shot.name == "flaky" and len(seen["flaky"]) < 3:
            raise VoidError("the GPU ran out of memory")
        return RunResult(job_id, "/v", [1])

    report = run_batch([_shot("flaky"), _shot("bad")], runner=runner, retries=2)
    flaky, bad = report.outcomes
    assert (flaky.status, flaky.attempts) == ("done", 3) and len(set(seen["flaky"])) == 1
    assert (bad.status, bad.attempts, len(seen["bad"])) == ("failed", 1, 1)
    report = run_batch([_shot("flaky")], runner=lambda *a: (_ for _ in ()).throw(VoidError("boom")), retries=1)
    assert (report.outcomes[0].status, report.outcomes[0].attempts) == ("failed", 2)


def test_shot_selection_and_the_server_list_from_the_environment() -> None:
    shots = [_shot(n) for n in ("a", "b", "c")]
    assert [s.name for s in select_shots(shots, ["c", "a"])] == ["a", "c"]
    assert select_shots(shots, []) == shots
    with pytest.raises(ShotError, match="no shot named z in the list; it has a, b, c"):
        select_shots(shots, ["z"])
    assert servers_from_env({"VOID_SERVERS": "tcp://a:5557, tcp://b:5557,"}) == ["tcp://a:5557", "tcp://b:5557"]
    assert servers_from_env({}) == []


def test_a_dealer_without_a_peer_gives_up_instead_of_blocking() -> None:
    """Before: send_multipart on a DEALER with no peer (server down, CURVE refused) blocked forever."""
    import socket

    from void_nuke.client import Client
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    errors: List[BaseException] = []

    def send_many() -> None:
        with Client(f"tcp://127.0.0.1:{port}", timeout=0.5) as client:
            try:
                for _ in range(10000):  # past the socket's high-water mark
                    client.send("HEARTBEAT")
            except ServerUnreachable as exc:
                errors.append(exc)

    sender = threading.Thread(target=send_many, daemon=True)
    sender.start()
    sender.join(60)
    assert not sender.is_alive(), "the send blocked"
    assert errors and "could not send" in str(errors[0])


@pytest.mark.server
def test_a_retried_shot_resumes_its_job_in_the_same_version_folder(tmp_path: Path) -> None:
    """The first attempt dies after delivering two frames; the retry keeps them and finishes the rest."""
    from void_nuke.batch import local_runner

    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1006)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1006"))
    shots = load_shot_list(str(tmp_path / "shots.toml"))
    attempts: List[str] = []

    def dies_once(shot: Shot, job_id: str, server: Optional[str], on_progress: Any, cancel: threading.Event) -> Any:
        attempts.append(job_id)

        def progress(event: Progress) -> None:
            if len(attempts) == 1 and event.stage == "engine" and event.frame == 1002:
                raise VoidError("the worker lost its GPU")  # a transient failure, after frames 1001-1002
            on_progress(event)

        return local_runner(shot, job_id, server, progress, cancel)

    report = run_batch(shots, runner=dies_once, retries=1)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.attempts) == ("done", 2) and len(set(attempts)) == 1
    assert [p.name for p in (tmp_path / "renders").iterdir()] == ["v001"]
    frames = sorted(p.name for p in (tmp_path / "renders" / "v001").glob("sh010.*.exr"))
    assert frames == [f"sh010.{f}.exr" for f in range(1001, 1007)]


@pytest.mark.server
def test_run_keeps_its_resumable_state_where_the_job_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VOID_CACHE_DIR (set by the farm job, on shared storage) holds a task's state under its stable job id."""
    write_tiny_shot(tmp_path / "plates", "sh010", 1001, 1003)
    (tmp_path / "shots.toml").write_text(shot_list_toml(["sh010"], "1001-1003"))
    (shot,) = load_shot_list(str(tmp_path / "shots.toml"))
    shot.save(str(tmp_path / "sh010.toml"))
    monkeypatch.setenv("VOID_CACHE_DIR", str(tmp_path / "shared-cache"))
    argv = ["run", "--shot", str(tmp_path / "sh010.toml"), "--job-id", "sh010-v001-1001", "--version", "v001"]
    assert main(argv) == 0
    assert [p.name for p in (tmp_path / "shared-cache").rglob("sh010-v001-1001")] == ["sh010-v001-1001"]
    first = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "renders" / "v001").glob("*.exr")}
    assert main(argv) == 0  # a retry of the same task: nothing is computed or written again
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "renders" / "v001").glob("*.exr")} == first
