"""The dockable VOID panel: servers with health, jobs with progress, and a log.

A view over ``void_nuke.panel_model.PanelModel``: it redraws when the
model's ``revision`` moves (a 300 ms timer on the UI thread, so worker
threads never touch Qt), and forwards buttons to the model.

Servers are polled on a background thread every ``POLL_MS``, but only once
the artist has acted: pressed *Check now*, added a server, or sent a job from
this Nuke. Nuke rebuilds a saved panel layout at start-up, and start-up never
contacts a server. ``VOID_PANEL_AUTOPOLL=1`` in the environment polls from
the moment the panel opens instead.

Registered with ``nukescripts.panels.registerWidgetAsPanel`` (Windows >
Custom > VOID).
"""
from __future__ import annotations

import os
import threading
from typing import Callable, List, Optional

from ..panel_model import JobRow, PanelModel, ServerRow
from .qt import QtCore, QtGui, QtWidgets

PANEL_ID = "com.void-nuke.panel"
WIDGET_EXPRESSION = "__import__('void_nuke.nuke.panel_widget', fromlist=['VoidPanel']).VoidPanel"
"""How Nuke's panel knob finds the widget class, whatever namespace evaluates it."""
REFRESH_MS = 300
POLL_MS = 10000
AUTOPOLL_ENV = "VOID_PANEL_AUTOPOLL"
NOT_CHECKED = "not checked"
NOT_CHECKED_TIP = ("Not asked yet: press Check now (the panel contacts no server on its own until you act, or "
                   f"with {AUTOPOLL_ENV}=1)")

SERVER_COLUMNS = ("Server", "State", "Engines", "GPU", "Free VRAM", "Queue", "Running")
JOB_COLUMNS = ("Node", "Shot", "Frames", "State", "Progress", "ETA", "Job", "Message")
PROGRESS_COLUMN = JOB_COLUMNS.index("Progress")
STATE_COLOURS = {"ok": "#4caf50", "done": "#4caf50", "running": "#e0a030", "queued": "#e0a030",
                 "unreachable": "#e05050", "error": "#e05050", "failed": "#e05050", "cancelled": "#9e9e9e"}

_shared: Optional[PanelModel] = None


def shared_model() -> PanelModel:
    """The session's model, fed by ``void_nuke.nuke.jobs`` (one for every open panel)."""
    global _shared
    if _shared is None:
        from ..client import DEFAULT_SERVER
        from . import jobs

        servers = [s for s in os.environ.get("VOID_SERVERS", DEFAULT_SERVER).split(",") if s.strip()]
        _shared = PanelModel(servers, actions=jobs.NukeActions())
        jobs.add_listener(_shared)
    return _shared


def _item(text: str, colour: Optional[str] = None, tip: str = "") -> QtWidgets.QTableWidgetItem:
    item = QtWidgets.QTableWidgetItem(text)
    item.setFlags(item.flags() & ~QtCore.Qt.ItemIsEditable)
    item.setToolTip(tip or text)
    if colour:
        item.setForeground(QtGui.QBrush(QtGui.QColor(colour)))
    return item


def _table(columns: tuple) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
    table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
    header.setStretchLastSection(True)
    return table


def _button(text: str, tip: str, slot: Callable[[], None]) -> QtWidgets.QPushButton:
    button = QtWidgets.QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class VoidPanel(QtWidgets.QWidget):
    """Servers, jobs and log of the VOID tools."""

    def __init__(self, model: Optional[PanelModel] = None, parent: Optional[QtWidgets.QWidget] = None,
                 poll: Optional[bool] = None) -> None:
        """``poll``: start polling at once (True), never on its own (False), or, by default, when the
        artist acts or ``VOID_PANEL_AUTOPOLL=1`` says so."""
        super().__init__(parent)
        self.model = model if model is not None else shared_model()
        self._seen = -1
        self._auto = poll is not False
        self.servers = _table(SERVER_COLUMNS)
        self.jobs = _table(JOB_COLUMNS)
        self.jobs.horizontalHeader().setSectionResizeMode(PROGRESS_COLUMN, QtWidgets.QHeaderView.Fixed)
        self.jobs.setColumnWidth(PROGRESS_COLUMN, 150)
        self.log = QtWidgets.QPlainTextEdit()
        self.log.setReadOnly(True)
        self.address = QtWidgets.QLineEdit()
        self.address.setPlaceholderText("tcp://gpu-host:5557")
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self._poller = QtCore.QTimer(self)
        self._poller.timeout.connect(self._poll_now)
        if poll or (poll is None and os.environ.get(AUTOPOLL_ENV, "") == "1"):
            self.poll()
        self.refresh()

    @property
    def polling(self) -> bool:
        return self._poller.isActive()

    # -- layout ----------------------------------------------------------------------------

    def _box(self, title: str, *rows: QtWidgets.QWidget) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(title)
        layout = QtWidgets.QVBoxLayout(box)
        for row in rows:
            layout.addWidget(row)
        return box

    def _row(self, *widgets: QtWidgets.QWidget) -> QtWidgets.QWidget:
        row = QtWidgets.QWidget()
        layout = QtWidgets.QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        return row

    def _build(self) -> None:
        server_buttons = self._row(
            self.address,
            _button("Add", "Add this server address to the list", self._add_server),
            _button("Remove", "Remove the selected server from the list", self._remove_server),
            _button("Check now", "Ask every server for its status now", self.poll))
        job_buttons = self._row(
            _button("Cancel", "Cancel the selected job on its server", self._cancel),
            _button("Reveal folder", "Open the selected job's result folder", self._reveal),
            _button("Reload Read", "Re-read the selected job's frames in its VOID node", self._reload))
        splitter = QtWidgets.QSplitter(QtCore.Qt.Vertical)
        splitter.addWidget(self._box("Servers", self.servers, server_buttons))
        splitter.addWidget(self._box("Jobs", self.jobs, job_buttons))
        splitter.addWidget(self._box("Log", self.log))
        splitter.setSizes([160, 260, 120])
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(splitter)

    # -- rendering -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw from the model if it changed since the last redraw."""
        if self.model.revision == self._seen:
            return
        self._seen = self.model.revision
        if self._auto and not self.polling and any(job.local for job in self.model.jobs()):
            self.poll()  # a job sent from this Nuke is the artist acting
        self._fill_servers(self.model.servers())
        self._fill_jobs(self.model.jobs())
        self.log.setPlainText("\n".join(f"{line.level:7} {line.text}" for line in self.model.log_lines()))
        self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _fill_servers(self, rows: List[ServerRow]) -> None:
        self.servers.setRowCount(len(rows))
        for r, row in enumerate(rows):
            state = NOT_CHECKED if row.state == "unknown" else row.state
            tip = NOT_CHECKED_TIP if row.state == "unknown" else row.message
            values = (row.address, state, row.engines, row.gpu, row.free_vram, str(row.queue), row.running)
            for c, value in enumerate(values):
                is_state = c == 1
                self.servers.setItem(r, c, _item(value, STATE_COLOURS.get(row.state) if is_state else None,
                                                 tip if is_state else ""))

    def _fill_jobs(self, rows: List[JobRow]) -> None:
        self.jobs.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = (row.node, row.shot, row.frames, row.state, "", row.eta, row.job_id, row.message)
            for c, value in enumerate(values):
                item = _item(value, STATE_COLOURS.get(row.state) if c == 3 else None)
                item.setData(QtCore.Qt.UserRole, row.job_id)
                self.jobs.setItem(r, c, item)
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(row.percent)
            bar.setFormat(f"{row.stage} %p%" if row.stage else "%p%")
            self.jobs.setCellWidget(r, PROGRESS_COLUMN, bar)

    # -- actions ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Ask the servers now, and every ``POLL_MS`` from now on."""
        if not self._poller.isActive():
            self._poller.start(POLL_MS)
        self._poll_now()

    def _poll_now(self) -> None:
        threading.Thread(target=self.model.poll_servers, name="void-panel-poll", daemon=True).start()

    def _add_server(self) -> None:
        self.model.add_server(self.address.text())
        self.address.clear()
        self.poll()

    def _remove_server(self) -> None:
        row = self.servers.currentRow()
        if row >= 0:
            self.model.remove_server(self.servers.item(row, 0).text())

    def selected_job(self) -> Optional[JobRow]:
        row = self.jobs.currentRow()
        if row < 0 or self.jobs.item(row, 0) is None:
            return None
        return self.model.job(self.jobs.item(row, 0).data(QtCore.Qt.UserRole))

    def _cancel(self) -> None:
        job = self.selected_job()
        if job is None:
            return

        def cancel() -> None:
            try:
                self.model.cancel(job.job_id)
            except Exception as exc:  # an unreachable server: say so in the log
                self.model.log(f"could not cancel {job.job_id}: {exc}", "error")

        threading.Thread(target=cancel, name="void-panel-cancel", daemon=True).start()

    def _reveal(self) -> None:
        job = self.selected_job()
        if job is not None and job.folder:
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(job.folder))

    def _reload(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.model.reload(job.job_id)


def register() -> None:
    """Make the panel available in Nuke's Windows > Custom menu (GUI start-up)."""
    import nukescripts

    nukescripts.panels.registerWidgetAsPanel(WIDGET_EXPRESSION, "VOID", PANEL_ID)
