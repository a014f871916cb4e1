"""Stand-in for ``nukescripts.panels``: records registered panels (``_registered``)."""
from __future__ import annotations

from typing import Any, List, Tuple

_registered: List[Tuple[str, str, str]] = []


def registerWidgetAsPanel(widget: str, name: str, id: str, create: bool = False) -> Any:
    """Nuke evaluates ``widget`` (an expression naming a QWidget class) when the panel opens."""
    _registered.append((widget, name, id))
    return None
