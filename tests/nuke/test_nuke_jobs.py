"""Jobs from Nuke: worker thread and main-thread loop, versions, cancel, failure, headless, re-attach, races."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import nuke
from nuke_scene import FakeClient, finish, pump, void_scene
from void_nuke.errors import ServerUnreachable, VoidError
from void_nuke.nuke import actions, jobs, results
from void_nuke.nuke.node import JOB_KNOB, NODE_ID_KNOB, TILE_COLOURS, inside, node_id


class Recorder:
    def __init__(self) -> None:
        self.events: list = []

    def job_started(self, info):
        self.events.append(("started", info.job_id))

    def job_progress(self, info, progress):
        self.events.append(("progress", progress.stage))

    def job_finished(self, info, folder):
        self.events.append(("finished", info.state, folder))


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1003)
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    return {"read": read, "roto": roto, "group": group, "tmp": tmp_path}


@pytest.fixture()
def group(scene: dict) -> object:
    return scene["group"]


def _send(group: object, **kwargs: object) -> jobs.Job:
    job = jobs.send(group, **kwargs)
    assert job is not None
    return finish(job)


def test_send_runs_on_a_worker_and_the_node_shows_the_new_version(scene: dict) -> None:
    group = scene["group"]
    recorder = Recorder()
    jobs.add_listener(recorder)
    job = _send(group)
    assert job.thread is not None and job.thread is not threading.main_thread()
    assert "_apply_finish" in nuke._main_thread_calls, "the node was changed from the main thread"

    read = inside(group, "Result_v001")
    assert nuke._shows(group, 1002) is read, "the result on the delivered frames"
    assert nuke._shows(group, 1000) is scene["read"] and nuke._shows(group, 1004) is scene["read"], \
        "the Source outside them, not a held result frame"
    assert read["file"].getText() == os.path.join(str(Path(group["output"].value()) / "v001"), "plate.####.exr")
    assert (read["first"].value(), read["last"].value(), read["raw"].value()) == (1001, 1003, True)
    assert (read["before"].value(), read["after"].value()) == ("black", "black")
    assert read["format"].value().width() == 64, "the Read was made from the delivered files"
    assert group["version"].value() == "v001" and group["version"].values() == ["v001"]
    assert group["status"].value().startswith("v001 ready: 3 frames") and group["progress"].value() == 1.0
    assert group["tile_color"].value() == TILE_COLOURS["done"]
    assert json.loads(group[JOB_KNOB].value())["state"] == "done"
    task = nuke._tasks[-1]
    assert task._progress == 100 and "download" in task._message
    assert recorder.events[0][0] == "started" and recorder.events[-1][:2] == ("finished", "done")
    assert ("progress", "download") in recorder.events
    assert FakeClient.instances[-1].closed


def test_each_run_is_a_new_version_and_setting_version_from_python_switches_the_output(group: object) -> None:
    _send(group)
    _send(group)
    assert group["version"].values() == ["v001", "v002"] and group["version"].value() == "v002"
    assert nuke._shows(group, 1002) is inside(group, "Result_v002")
    assert not group.shown(), "the panel is closed: no knobChanged runs"
    group["version"].setValue("v001")
    assert nuke._shows(group, 1002) is inside(group, "Result_v001"), "the Versions switch follows the knob"
    group["show"].setValue("source")
    assert nuke._shows(group, 1002).Class() == "Read" and nuke._shows(group, 1002).name() == "Read1"

    with group:
        nuke.delete(nuke.toNode("Result_v002"))
    assert results.select_version(group, "v002") is not None
    assert nuke._shows(group, 1002) is inside(group, "Result_v002"), "rebuilt from the stored record"
    assert results.select_version(group, "v009") is None


def test_selecting_a_version_with_the_panel_open_survives_knobChanged_calling_back(group: object) -> None:
    _send(group)
    _send(group)
    group.showControlPanel()
    group["version"].setValue("v001")  # knobChanged runs select_version, which sets the knob again
    assert nuke._shows(group, 1001) is inside(group, "Result_v001")


def test_a_preview_is_its_own_version_sent_with_preview(group: object) -> None:
    _send(group, preview=True)
    ((_, (shot, job_id, preview)),) = FakeClient.instances[-1].calls
    assert preview is True and group["version"].value() == "v001 (mask preview)"


def test_cancel_stops_the_worker_and_marks_the_node(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    assert jobs.send(group) is None and "still running" in nuke._messages[-1]
    assert not group["status"].value().startswith("error"), "the running job's status is left alone"
    actions.on_button(group, "cancel")
    finish(job)
    assert job.info.state == "cancelled" and group["status"].value().startswith("cancelled")
    assert ("cancel", job.info.job_id) in FakeClient.instances[0].calls
    assert results.records(group) == [] and group["version"].values() == [" "], \
        "the version that never landed a frame is gone from the node"
    assert inside(group, "Result_v001") is None and nuke._shows(group, 1002).name() == "Read1"
    actions.on_button(group, "cancel")
    assert "no job of this node is running" in nuke._messages[-1]


def test_the_progress_task_cancel_button_cancels_the_job(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    pump(lambda: bool(nuke._tasks))
    nuke._tasks[-1]._cancelled = True
    assert finish(job).info.state == "cancelled"


def test_a_server_error_is_shown_on_the_node(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "client_factory",
                        FakeClient.factory(fail=VoidError("GPU out of memory; try roi mode", code="oom")))
    job = _send(group)
    assert job.info.state == "failed"
    assert group["status"].value() == "failed: GPU out of memory; try roi mode"
    assert group["tile_color"].value() == TILE_COLOURS["failed"]


def test_lost_contact_keeps_a_queued_job_reattachable(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = ServerUnreachable("lost contact with tcp://gpu:5557; the job keeps running there.")
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(fail=lost))
    job = _send(group)
    assert job.info.state == "running" and "Reopen the script" in group["status"].value()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    (again,) = jobs.reattach_all()
    assert finish(again).info.state == "done"

    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(refuse=ServerUnreachable("no answer")))
    job = _send(group)
    assert job.info.state == "failed" and group["status"].value() == "failed: no answer"
    assert jobs.reattach_all() == [], "a job the server never had is not followed"


def test_headless_send_runs_inline_and_prints_progress(group: object, capsys: pytest.CaptureFixture) -> None:
    nuke.GUI = False
    job = jobs.send(group)
    assert job is not None and job.finished.is_set() and job.thread is None
    assert nuke._main_thread_calls == [] and nuke._tasks == []
    out = capsys.readouterr().out
    assert "download 100%" in out and f"job {job.info.job_id} done" in out
    assert inside(group, "Result_v001") is not None


def test_headless_problems_raise_instead_of_opening_dialogs(group: object) -> None:
    nuke.GUI = False
    group.setInput(1, None)
    with pytest.raises(VoidError, match="nothing to remove"):
        jobs.send(group)
    assert nuke._messages == []


def test_a_restarted_nuke_reattaches_to_running_jobs(group: object) -> None:
    job = _send(group)
    info = json.loads(group[JOB_KNOB].value())
    info.update(state="running", job_id="plate-reattach1")
    group[JOB_KNOB].setValue(json.dumps(info))  # as saved while the job was still running

    (again,) = jobs.reattach_all()
    assert finish(again).info.state == "done"
    assert FakeClient.instances[-1].calls == [("attach", ("plate-reattach1", info["out_dir"]))]
    assert group["version"].values() == ["v001", "v002"] and job.info.job_id != again.info.job_id
    assert jobs.reattach_all() == [], "a finished job is not followed again"

    nuke.GUI = False
    group[JOB_KNOB].setValue(json.dumps(info))
    assert jobs.reattach_all() == [], "headless sessions (farm renders) never re-attach"


def test_cancel_without_a_local_worker_goes_to_the_server(group: object) -> None:
    _send(group)
    info = json.loads(group[JOB_KNOB].value())
    info.update(state="running")
    group[JOB_KNOB].setValue(json.dumps(info))
    nuke.GUI = False  # inline, so the test needs no thread
    jobs.cancel(group)
    assert FakeClient.instances[-1].calls == [("cancel", info["job_id"])]
    assert json.loads(group[JOB_KNOB].value())["state"] == "cancelled"


def test_a_node_deleted_while_its_job_runs_is_skipped(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    nuke.delete(group)
    hold.set()
    assert finish(job).info.state == "done"
    assert os.path.isdir(os.path.join(job.info.out_dir, "v001")), "the results are still delivered"


def test_send_in_the_gap_before_the_finish_reaches_the_node_is_refused(group: object) -> None:
    """The worker is done but its finish is still queued for the main thread: the job is not over yet."""
    job = jobs.send(group)
    job.thread.join(10)
    assert not job.thread.is_alive() and not job.finished.is_set()
    assert jobs.send(group) is None and "still running" in nuke._messages[-1]
    finish(job)
    assert [r.name for r in results.records(group)] == ["v001"] and group["version"].value() == "v001", \
        "the delivered version reached the node"
    assert json.loads(group[JOB_KNOB].value())["job_id"] == job.info.job_id


def test_a_pasted_copy_forgets_the_job_and_the_original_keeps_it(group: object,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    for node in nuke.allNodes():
        node.setSelected(node is group)
    nuke.nodeCopy("%clipboard%")
    copy = nuke.nodePaste("%clipboard%")
    assert copy is not group and copy.name() == "VOID2"
    assert node_id(copy) != node_id(group) and copy[NODE_ID_KNOB].value()
    assert copy[JOB_KNOB].value() == "" and "copy of VOID1" in copy["status"].value()
    copy_job = jobs.send(copy)
    assert copy_job is not None, "the copy is a node of its own"
    hold.set()
    finish(job)
    finish(copy_job)
    assert json.loads(group[JOB_KNOB].value())["job_id"] == job.info.job_id
    assert group["version"].value() == "v001" and json.loads(group[JOB_KNOB].value())["state"] == "done"
    assert json.loads(copy[JOB_KNOB].value())["job_id"] != job.info.job_id


def test_a_job_stored_by_the_first_release_is_followed_and_blocks_a_second_send(
        group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    stored = {"job_id": "plate-old00001", "server": "tcp://gpu:5557", "out_dir": group["output"].value(),
              "name": "plate", "padding": 4, "first": 1001, "last": 1003, "state_hash": "", "preview": False,
              "state": "running", "message": "", "node": "VOID1"}  # no node_id, no view
    group[JOB_KNOB].setValue(json.dumps(stored))
    (job,) = jobs.reattach_all()
    assert job.info.node_id == node_id(group)
    assert jobs.send(group) is None and "plate-old00001 is still running" in nuke._messages[-1]
    hold.set()
    assert finish(job).info.state == "done"
