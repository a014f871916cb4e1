"""void-nuke: VOID object-and-interaction removal for Nuke, pipelines and farms.

This package is the client side. It runs in Nuke's Python (3.9+) and any
other Python, and never imports torch. ``void_nuke.nuke`` is the only part that
imports ``nuke`` or Qt.
"""

__version__ = "0.1.0"
