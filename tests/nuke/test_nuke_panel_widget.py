"""The dockable panel under pytest-qt (offscreen): rendering the model, buttons, screenshots."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from void_nuke.nuke.panel_widget import JOB_COLUMNS, PROGRESS_COLUMN, VoidPanel  # noqa: E402
from void_nuke.nuke.qt import BINDING, QtCore, QtGui, QtWidgets  # noqa: E402
from void_nuke.panel_model import JobInfo, PanelActions, PanelModel  # noqa: E402
from void_nuke.progress import Progress  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "make_panel_screenshots.py"


class Actions(PanelActions):
    def __init__(self) -> None:
        self.calls: list = []

    def cancel(self, job_id: str) -> None:
        self.calls.append(("cancel", job_id))

    def reload(self, job_id: str) -> None:
        self.calls.append(("reload", job_id))


def _info(job_id: str) -> JobInfo:
    return JobInfo(job_id, "tcp://gpu:5557", "/out", "sh010", 4, 1001, 1010, "", node="VOID1")


@pytest.fixture()
def panel(qtbot: object) -> VoidPanel:
    model = PanelModel(["tcp://gpu:5557"], actions=Actions())
    widget = VoidPanel(model, poll=False)
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    return widget


def test_the_panel_redraws_when_the_model_changes(panel: VoidPanel, qtbot: object) -> None:
    assert BINDING in ("PySide6", "PySide2")
    assert panel.servers.rowCount() == 1 and panel.servers.item(0, 1).text() == "not checked"
    panel.model.job_started(_info("sh010-aa"))
    panel.model.job_progress(_info("sh010-aa"), Progress("sh010-aa", "engine", 1004, 4, 10, 0.4, 30.0, ""))
    qtbot.waitUntil(lambda: panel.jobs.rowCount() == 1, timeout=3000)  # type: ignore[attr-defined]
    row = {JOB_COLUMNS[c]: panel.jobs.item(0, c).text() for c in range(len(JOB_COLUMNS)) if c != PROGRESS_COLUMN}
    assert (row["Node"], row["Frames"], row["State"], row["ETA"], row["Job"]) == \
        ("VOID1", "1001-1010", "running", "30s", "sh010-aa")
    bar = panel.jobs.cellWidget(0, PROGRESS_COLUMN)
    assert bar.value() == 40 and bar.format().startswith("engine")
    assert "sent job sh010-aa" in panel.log.toPlainText()


def test_buttons_reach_the_model(panel: VoidPanel, qtbot: object) -> None:
    panel.model.job_started(_info("sh010-aa"))
    panel.refresh()
    panel.jobs.selectRow(0)
    buttons = {b.text(): b for b in panel.findChildren(QtWidgets.QPushButton)}
    buttons["Reload Read"].click()
    buttons["Cancel"].click()
    qtbot.waitUntil(lambda: len(panel.model.actions.calls) == 2, timeout=3000)  # type: ignore[attr-defined]
    assert sorted(panel.model.actions.calls) == [("cancel", "sh010-aa"), ("reload", "sh010-aa")]

    panel.address.setText("tcp://other:5557")
    buttons["Add"].click()
    assert [r.address for r in panel.model.servers()] == ["tcp://gpu:5557", "tcp://other:5557"]
    panel.refresh()
    panel.servers.selectRow(0)
    buttons["Remove"].click()
    assert [r.address for r in panel.model.servers()] == ["tcp://other:5557"]


class CountingClient:
    """A server client that counts the status requests a panel makes."""

    asked: list = []

    def __init__(self, address: str) -> None:
        self.address = address

    def status(self) -> dict:
        CountingClient.asked.append(self.address)
        return {"version": "0.1.0", "engines": {}, "gpu": {"cuda": False}, "jobs": []}

    def close(self) -> None:
        pass


def test_a_panel_restored_at_start_up_contacts_no_server_until_the_artist_acts(
        qtbot: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOID_PANEL_AUTOPOLL", raising=False)
    CountingClient.asked = []
    model = PanelModel(["tcp://gpu:5557"], client_factory=CountingClient, actions=Actions())
    widget = VoidPanel(model)  # what Nuke does when it rebuilds a saved layout
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    qtbot.wait(200)  # type: ignore[attr-defined]
    assert not widget.polling and CountingClient.asked == []
    assert "Check now" in widget.servers.item(0, 1).toolTip()

    model.job_started(_info("sh010-aa"))  # a job sent from this Nuke: the artist acted
    widget.refresh()
    qtbot.waitUntil(lambda: CountingClient.asked == ["tcp://gpu:5557"], timeout=3000)  # type: ignore[attr-defined]
    assert widget.polling


def test_the_autopoll_setting_polls_from_the_start(qtbot: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOID_PANEL_AUTOPOLL", "1")
    CountingClient.asked = []
    widget = VoidPanel(PanelModel(["tcp://gpu:5557"], client_factory=CountingClient))
    qtbot.addWidget(widget)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: CountingClient.asked == ["tcp://gpu:5557"], timeout=3000)  # type: ignore[attr-defined]


def test_the_screenshot_script_renders_the_panel(tmp_path: Path, qtbot: object) -> None:
    script = runpy.run_path(str(SCRIPT))
    paths = script["main"]([str(tmp_path)])
    assert [Path(p).name for p in paths] == ["panel.png", "panel_jobs.png"]
    image = QtGui.QImage(paths[0])
    assert image.width() >= 900 and image.height() >= 600
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 50, "the picture has text, tables and bars, not a blank window"
    model = script["demo_model"]()
    assert {r.state for r in model.servers()} == {"ok", "unreachable"}
    assert QtCore.QSize(image.width(), image.height()) == QtCore.QSize(980, 640)
