"""The one place that picks a Qt binding: PySide6 (Nuke 16+), else PySide2 (Nuke 14-15).

Only the panel imports this module, never start-up code or the farm. It logs
which binding loaded, so a report from an artist says which Qt was in play.
"""
from __future__ import annotations

import logging

log = logging.getLogger("void_nuke.qt")

try:
    from PySide6 import QtCore, QtGui, QtWidgets

    BINDING = "PySide6"
except ImportError:
    from PySide2 import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]

    BINDING = "PySide2"

log.info("VOID panel: %s, Qt %s", BINDING, QtCore.qVersion())

__all__ = ["BINDING", "QtCore", "QtGui", "QtWidgets"]
