"""Jobs from Nuke: worker thread, versions as Reads, stale check, cancel, failure, headless, re-attach."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import nuke
from nuke_scene import FakeClient, square, void_scene
from void_nuke.errors import ServerUnreachable, VoidError
from void_nuke.nuke import actions, jobs, results
from void_nuke.nuke.node import JOB_KNOB, SWITCH, TILE_COLOURS, inside


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
def group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    node = void_scene(str(tmp_path), 1001, 1003)[3]
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    return node


def _send(group: object, **kwargs: object) -> jobs.Job:
    job = jobs.send(group, **kwargs)
    assert job is not None and job.wait(10)
    return job


def test_send_runs_on_a_worker_and_wires_a_new_read_as_the_output(group: object) -> None:
    recorder = Recorder()
    jobs.add_listener(recorder)
    job = _send(group)
    assert job.thread is not None and job.thread is not threading.main_thread()

    read = inside(group, "Result_v001")
    assert read is not None and inside(group, SWITCH).input(0) is read
    assert read["file"].value() == os.path.join(str(Path(group["output"].value()) / "v001"), "plate.####.exr")
    assert (read["first"].value(), read["last"].value(), read["raw"].value()) == (1001, 1003, True)
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


def test_each_run_is_a_new_version_and_earlier_ones_stay_selectable(group: object) -> None:
    _send(group)
    _send(group)
    assert group["version"].values() == ["v001", "v002"] and group["version"].value() == "v002"
    assert inside(group, SWITCH).input(0) is inside(group, "Result_v002")
    group["version"].setValue("v001")
    actions.on_knob_changed(group, group["version"])
    assert inside(group, SWITCH).input(0) is inside(group, "Result_v001")

    with group:
        nuke.delete(nuke.toNode("Result_v002"))
    assert results.select_version(group, "v002") is not None
    rebuilt = inside(group, "Result_v002")
    assert rebuilt is not None and inside(group, SWITCH).input(0) is rebuilt, "rebuilt from the stored record"
    assert results.select_version(group, "v009") is None


def test_selecting_a_version_survives_knobChanged_calling_back(group: object) -> None:
    knob = group["version"]
    plain_set = knob.setValue

    def set_and_notify(value):  # as Nuke does: a knob set from Python runs the node's knobChanged
        plain_set(value)
        actions.on_knob_changed(group, knob)

    knob.setValue = set_and_notify
    _send(group)
    _send(group)
    knob.setValue("v001")
    assert inside(group, SWITCH).input(0) is inside(group, "Result_v001")


def test_a_preview_is_its_own_version_sent_with_preview(group: object) -> None:
    _send(group, preview=True)
    ((_, (shot, job_id, preview)),) = FakeClient.instances[-1].calls
    assert preview is True and group["version"].value() == "v001 (mask preview)"


def test_stale_indicator_follows_knobs_and_the_upstream_graph(group: object) -> None:
    _send(group)
    assert group["stale"].value() == ""
    group["prompt"].setValue("A quiet street.")
    actions.on_knob_changed(group, group["prompt"])
    assert "stale" in group["stale"].value() and group["tile_color"].value() == TILE_COLOURS["stale"]
    group["prompt"].setValue("")
    actions.on_knob_changed(group, group["prompt"])
    assert group["stale"].value() == ""

    read = group.input(0)
    read["colorspace"].setValue("sRGB")
    assert results.refresh_stale(group)
    read["colorspace"].setValue("default (linear)")
    read["xpos"].setValue(500)
    assert not results.refresh_stale(group), "moving a node in the graph changes nothing"
    roto = nuke.toNode(group["roto_nodes"].value())
    roto["curves"].rootLayer.append(square("Bezier2", 1, 1, 5, 5))
    assert results.refresh_stale(group)


def test_cancel_stops_the_worker_and_marks_the_node(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    assert jobs.send(group) is None and "still running" in nuke._messages[-1]
    assert not group["status"].value().startswith("error"), "the running job's status is left alone"
    actions.on_button(group, "cancel")
    assert job.wait(10)
    assert job.info.state == "cancelled" and group["status"].value().startswith("cancelled")
    assert ("cancel", job.info.job_id) in FakeClient.instances[0].calls
    assert group["version"].values() == [" "], "no version from a cancelled job"
    actions.on_button(group, "cancel")
    assert "no job of this node is running" in nuke._messages[-1]


def test_the_progress_task_cancel_button_cancels_the_job(group: object, monkeypatch: pytest.MonkeyPatch) -> None:
    hold = threading.Event()
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(hold=hold))
    job = jobs.send(group)
    for _ in range(500):
        if nuke._tasks:
            break
        threading.Event().wait(0.01)
    nuke._tasks[-1]._cancelled = True
    assert job.wait(10) and job.info.state == "cancelled"


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
    assert again.wait(10) and again.info.state == "done"

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
    group["roto_nodes"].setValue("")
    with pytest.raises(VoidError, match="nothing to remove"):
        jobs.send(group)
    assert nuke._messages == []


def test_a_restarted_nuke_reattaches_to_running_jobs(group: object) -> None:
    job = _send(group)
    info = json.loads(group[JOB_KNOB].value())
    info.update(state="running", job_id="plate-reattach1")
    group[JOB_KNOB].setValue(json.dumps(info))  # as saved while the job was still running

    (again,) = jobs.reattach_all()
    assert again.wait(10) and again.info.state == "done"
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
    assert job.wait(10) and job.info.state == "done"
    assert os.path.isdir(os.path.join(job.info.out_dir, "v001")), "the results are still delivered"
