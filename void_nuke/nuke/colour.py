"""The script's colour management, as the server needs it: which OCIO config, and a sentence saying so.

Nuke chooses its OCIO config in this order (Nuke user guide, "OCIO colour
management"): the ``OCIO`` environment variable when set, else the root
``OCIO_config`` knob: ``custom`` with a file in ``customOCIOConfigPath``, or
one of the configs shipped with Nuke. Nuke's ``fn-nuke_cg-config-...`` and
``fn-nuke_studio-config-...`` are the ASWF CG and Studio configs, which OCIO
2.2+ has built in as ``ocio://cg-config-...``; the older shipped ones
(``nuke-default``, ``aces_1.2``...) live in Nuke's install under
``plugins/OCIOConfigs/configs/<name>/config.ocio``. A script under Nuke's
own colour management (``colorManagement`` = Nuke) names no OCIO config.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import nuke

from . import paths

FOUNDRY_PREFIX = "fn-nuke_"


def builtin_uri(name: str) -> Optional[str]:
    """``fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1`` -> ``ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1``."""
    if name.startswith(FOUNDRY_PREFIX) and name[len(FOUNDRY_PREFIX):].startswith(("cg-config-", "studio-config-")):
        return "ocio://" + name[len(FOUNDRY_PREFIX):]
    return None


def _shipped(name: str) -> Optional[str]:
    install = os.path.dirname(str(getattr(nuke, "EXE_PATH", "") or ""))
    path = os.path.join(install, "plugins", "OCIOConfigs", "configs", name, "config.ocio")
    return path if install and os.path.isfile(path) else None


def script_config() -> Tuple[Optional[str], str]:
    """(the OCIO config the script uses, or None; a note for the artist, "" when there is nothing to say)."""
    env = os.environ.get("OCIO", "").strip()
    if env:
        return (env if env.startswith("ocio://") else paths.absolute(env)), f"OCIO config from $OCIO: {env}"
    root = nuke.root()
    management, config = root.knob("colorManagement"), root.knob("OCIO_config")
    if management is None or config is None or str(management.value()) != "OCIO":
        return None, ""  # Nuke's own colour management: nothing to send, nothing to say
    name = str(config.value()).strip()
    if name == "custom":
        path = paths.evaluated(root, "customOCIOConfigPath")
        if not path:
            return None, "OCIO config is custom but customOCIOConfigPath is empty: the server's config is used"
        return path, f"OCIO config {path}"
    found = builtin_uri(name) or _shipped(name)
    if found is None:
        return None, f"Nuke's shipped OCIO config {name!r} is not available outside Nuke: the server's is used"
    return found, f"OCIO config {name} ({found})"
