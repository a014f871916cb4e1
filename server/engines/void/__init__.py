"""The ``void`` engine: Netflix's VOID (CogVideoX-Fun 5B + quadmask) on diffusers.

Importing this package is cheap; torch and diffusers load when the engine is created.
"""
from __future__ import annotations

from typing import Any, Dict


def create_engine(settings: Dict[str, Any]):
    """The engine registry's entry point for the engine name ``void``."""
    from .engine import VoidEngine

    return VoidEngine(settings)
