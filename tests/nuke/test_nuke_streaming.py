"""Results stream into the comp while the job runs; progress knobs are throttled and quiet; the stale flag is live."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import List

import pytest

import nuke
from nuke_scene import FakeClient, finish, pump, square, void_scene
from void_nuke.nuke import actions, jobs, results
from void_nuke.nuke.node import TILE_COLOURS, inside


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    manual = ManualClock()
    monkeypatch.setattr(jobs, "clock", manual)
    monkeypatch.setattr(actions, "clock", manual)
    return manual


@pytest.fixture()
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    pattern, read, roto, group = void_scene(str(tmp_path), 1001, 1004)
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory())
    return {"read": read, "roto": roto, "group": group}


def _reloads(group: object, name: str = "Result_v001") -> int:
    read = inside(group, name)
    return getattr(read["reload"], "_executions", 0) if read is not None else 0


def test_the_result_appears_when_the_job_starts_and_shows_frames_as_they_land(
        scene: dict, monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> None:
    group, plate = scene["group"], scene["read"]
    gate = threading.Semaphore(0)
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(gate=gate))
    job = jobs.send(group)
    pump(lambda: inside(group, "Result_v001") is not None)
    assert group["version"].value() == "v001" and results.records(group)[0].streaming
    assert all(nuke._shows(group, f) is plate for f in range(1000, 1006)), "nothing landed: the Source"
    assert group["tile_color"].value() == TILE_COLOURS["running"]

    gate.release()
    pump(lambda: job.landed == {1001} and job.latest is not None and job.latest.frame == 1001)
    clock.now += 1.0
    job.progress.request()
    pump(lambda: "1/4 frames" in group["status"].value())
    assert nuke._shows(group, 1001) is inside(group, "Result_v001")
    assert nuke._shows(group, 1002) is plate, "not landed yet: the Source passes through"
    assert group["status"].value().startswith("v001 · 1/4 frames · download")
    assert _reloads(group) == 1

    gate.release()
    pump(lambda: len(job.landed) == 2)
    clock.now += 0.5  # within the reload interval: the range grows, the files are not re-read yet
    job.progress.request()
    pump(lambda: "2/4 frames" in group["status"].value())
    assert nuke._shows(group, 1002) is inside(group, "Result_v001") and _reloads(group) == 1
    assert results.records(group)[0].last == 1002

    gate.release(2)
    finish(job)
    assert results.records(group)[0].last == 1004 and not results.records(group)[0].streaming
    assert all(nuke._shows(group, f) is inside(group, "Result_v001") for f in range(1001, 1005))
    assert nuke._shows(group, 1005) is plate and _reloads(group) == 2, "re-read once more at the end"


def test_progress_reaches_the_node_at_most_four_times_a_second(
        scene: dict, monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> None:
    group = scene["group"]
    monkeypatch.setattr(jobs, "client_factory", FakeClient.factory(bursts=200))
    nuke.root().setModified(False)
    undo_before = nuke.Undo.undoSize()
    job = finish(jobs.send(group))
    # 200 upload events, a queued one and four frames arrived within one instant of the clock: the node
    # took the first at once and the rest in one trailing update, then the finish.
    assert job.node_updates <= 2
    assert nuke.Undo.undoSize() == undo_before, "no undo steps from progress, streaming or finish"
    for name in ("status", "progress", "stale"):
        assert group[name].getFlag(nuke.NO_RERENDER)


def test_updates_find_the_node_without_scanning_the_script_each_time(scene: dict,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    scans = []
    real = jobs.void_nodes
    monkeypatch.setattr(jobs, "void_nodes", lambda: scans.append(1) or real())
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_S", 0.0)  # every event reaches the node
    job = finish(jobs.send(scene["group"]))
    assert job.node_updates >= 4 and len(scans) == 0, "the sending node is kept, and checked by its id"
    nuke.delete(scene["group"])
    job.node = scene["group"]
    assert jobs._node_of(job) is None, "a deleted node is noticed, not written to"


def test_progress_knob_writes_leave_the_script_unmodified(scene: dict) -> None:
    group = scene["group"]
    nuke.root().setModified(False)
    undo_before = nuke.Undo.undoSize()
    jobs._show(group, "engine 40% · frame 1002", "running", 0.4)
    assert group["progress"].value() == 0.4 and not nuke.root().modified()
    assert nuke.Undo.undoSize() == undo_before


def test_the_throttle_defers_and_never_drops_the_last_update() -> None:
    from void_nuke.streaming import Throttle

    now = [0.0]
    fired: List[float] = []
    timers: list = []
    throttle = Throttle(0.25, lambda: fired.append(now[0]), clock=lambda: now[0],
                        timer=lambda delay, call: timers.append((delay, call)))
    for t in (0.0, 0.05, 0.1, 0.2):
        now[0] = t
        throttle.request()
    assert fired == [0.0] and len(timers) == 1 and timers[0][0] == pytest.approx(0.2), "due at 0.25"
    now[0] = 0.25
    timers.pop()[1]()
    assert fired == [0.0, 0.25], "the deferred update runs once, with the latest state"
    now[0] = 0.6
    throttle.request()
    assert fired == [0.0, 0.25, 0.6] and not timers


def test_the_stale_flag_is_live_with_the_panel_closed(scene: dict, clock: ManualClock) -> None:
    group, read = scene["group"], scene["read"]
    nuke.addUpdateUI(actions.on_update_ui, nodeClass="Group")  # as gizmos/menu.py installs it
    finish(jobs.send(group))
    assert group["stale"].value() == "" and not group.shown()

    read["colorspace"].setValue("sRGB")  # an upstream edit; the VOID node's panel is closed
    nuke._idle()
    assert "stale" in group["stale"].value() and group["tile_color"].value() == TILE_COLOURS["stale"]

    read["colorspace"].setValue("default (linear)")
    nuke._idle()  # within the second: deferred, not lost
    assert "stale" in group["stale"].value()
    clock.now += actions.STALE_INTERVAL_S
    actions._stale_checks[group["void_node_id"].value()].flush()
    pump(lambda: group["stale"].value() == "")
    assert group["tile_color"].value() == TILE_COLOURS["done"]


def test_the_stale_flag_hashes_what_changes_the_output_only(scene: dict) -> None:
    group, read, roto = scene["group"], scene["read"], scene["roto"]
    finish(jobs.send(group))
    shape = roto["curves"].rootLayer[0]

    read["xpos"].setValue(500)
    roto["toolbox"].setValue(3)  # another Roto tool picked
    shape.setFlag(nuke.rotopaint.FlagType.eSelectedFlag, True)  # a shape selected in the Viewer
    assert not results.refresh_stale(group), "moving, selecting and picking tools change no pixel"

    shape.setFlag(nuke.rotopaint.FlagType.eSelectedFlag, False)
    roto["curves"].rootLayer.append(square("Bezier2", 1, 1, 5, 5))
    assert results.refresh_stale(group), "a new shape does"


def test_the_stale_flag_updates_when_the_panel_opens_and_on_knob_changes(scene: dict) -> None:
    group = scene["group"]
    finish(jobs.send(group))
    group["prompt"].setValue("A quiet street.")  # from Python, panel closed: no knobChanged
    assert group["stale"].value() == ""
    group.showControlPanel()
    assert "stale" in group["stale"].value(), "refreshed when the panel opens"
    group["prompt"].setValue("")
    assert group["stale"].value() == "", "and on a result knob's change while it is open"


def test_send_refreshes_the_stale_flag_first(scene: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    group = scene["group"]
    finish(jobs.send(group))
    group["seed"].setValue(7)
    monkeypatch.setattr(jobs, "take", lambda *a, **k: (_ for _ in ()).throw(AssertionError("sent")))
    with pytest.raises(AssertionError):
        jobs.send(group)
    assert "stale" in group["stale"].value()
