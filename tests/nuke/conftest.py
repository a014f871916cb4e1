"""The Nuke tests run against the hand-written fake ``nuke`` in ``fake_nuke/`` (and Qt offscreen)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # forced: the panel tests must never open a window

FAKE = Path(__file__).resolve().parent / "fake_nuke"
if str(FAKE) not in sys.path:
    sys.path.insert(0, str(FAKE))

import nuke  # noqa: E402  (the fake, from the path above)


@pytest.fixture(autouse=True)
def fresh_script() -> object:
    """Every test starts with an empty script in GUI mode and no job state left over."""
    nuke._reset()
    from void_nuke.nuke import actions, jobs

    jobs._active.clear()
    jobs._listeners.clear()
    actions._stale_checks.clear()
    return nuke
