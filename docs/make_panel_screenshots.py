"""Render the VOID panel with example servers and jobs into docs/images/panel*.png.

Needs no Nuke and no server (the panel's model is fed canned status replies)::

    QT_QPA_PLATFORM=offscreen python docs/make_panel_screenshots.py [output folder]

Nuke draws its panels in its own dark Fusion style; the script does the same
so the pictures look as they do in Nuke.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from void_nuke.errors import ServerUnreachable  # noqa: E402
from void_nuke.panel_model import JobInfo, PanelModel  # noqa: E402
from void_nuke.progress import Progress  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GIB = 1024 ** 3
STATUS: Dict[str, Any] = {
    "tcp://gpu-a:5557": {"version": "0.1.0", "queue": 1, "running": "sh010-3f2a91c4",
                         "engines": {"classic": {"available": True}, "void": {"available": True}},
                         "gpu": {"cuda": True, "name": "NVIDIA H100 80GB HBM3", "free_bytes": 31 * GIB},
                         "jobs": [{"job": "sh030-77d0e1aa", "state": "queued", "shot": "sh030", "frames": "1001-1120",
                                   "progress": {"stage": "queued", "fraction": 0.0}}]},
    "tcp://gpu-b:5557": {"version": "0.1.0", "queue": 0, "running": None,
                         "engines": {"classic": {"available": True}, "void": {"available": False}},
                         "gpu": {"cuda": False}, "jobs": []},
    "tcp://render07:5557": ServerUnreachable("no answer from tcp://render07:5557 within 3 s; is void-server "
                                             "running there, and is the address right?"),
}


class DemoClient:
    """Canned ``status()`` replies, as a real server would give them."""

    def __init__(self, address: str) -> None:
        self.address = address

    def status(self) -> Dict[str, Any]:
        answer = STATUS[self.address]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        pass


def _job(job_id: str, node: str, name: str, first: int, last: int) -> JobInfo:
    return JobInfo(job_id, "tcp://gpu-a:5557", f"/shows/demo/{name}/void", name, 4, first, last, "", node=node)


def demo_model() -> PanelModel:
    model = PanelModel(list(STATUS), client_factory=DemoClient)
    model.poll_servers()
    running = _job("sh010-3f2a91c4", "VOID_hand", "sh010", 1001, 1096)
    model.job_started(running)
    model.job_progress(running, Progress(running.job_id, "engine", 1049, 2, 4, 0.47, 312.0, "window 2/4"))
    done = _job("sh020-9c81b2d0", "VOID_duck", "sh020", 1001, 1048)
    model.job_started(done)
    model.job_finished(JobInfo(**{**done.__dict__, "state": "done"}), "/shows/demo/sh020/void/v003")
    failed = _job("sh040-12ab34cd", "VOID_diver", "sh040", 1001, 1240)
    model.job_started(failed)
    model.job_finished(JobInfo(**{**failed.__dict__, "state": "failed",
                                  "message": "the server at tcp://gpu-b:5557 cannot run the void engine"}), None)
    return model


def _dark_style(app: Any) -> None:
    from void_nuke.nuke.qt import QtGui

    app.setStyle("Fusion")
    palette = QtGui.QPalette()
    for role, colour in (("Window", "#323232"), ("WindowText", "#d0d0d0"), ("Base", "#262626"),
                         ("AlternateBase", "#2e2e2e"), ("Text", "#d0d0d0"), ("Button", "#3a3a3a"),
                         ("ButtonText", "#d0d0d0"), ("Highlight", "#f7931e"), ("HighlightedText", "#000000")):
        palette.setColor(getattr(QtGui.QPalette, role), QtGui.QColor(colour))
    app.setPalette(palette)


def build_panel(model: PanelModel) -> Any:
    from void_nuke.nuke.panel_widget import VoidPanel

    panel = VoidPanel(model, poll=False)
    panel.resize(980, 640)
    panel.refresh()
    return panel


def main(argv: List[str]) -> List[str]:
    from void_nuke.nuke.qt import QtCore, QtWidgets

    out_dir = argv[0] if argv else os.path.join(HERE, "images")
    os.makedirs(out_dir, exist_ok=True)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    _dark_style(app)
    panel = build_panel(demo_model())
    panel.show()
    panel.jobs.selectRow(1)
    app.processEvents()
    written = []
    for name, widget in (("panel.png", panel), ("panel_jobs.png", panel.jobs.parentWidget())):
        path = os.path.join(out_dir, name)
        widget.grab().save(path)
        written.append(path)
    panel.close()
    # Delete the widget now, on this (the GUI) thread: left to the garbage collector, it may be
    # destroyed on whichever thread happens to run a collection, which crashes Qt.
    panel.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
    return written


if __name__ == "__main__":
    print("\n".join(main(sys.argv[1:])))
