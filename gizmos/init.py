"""VOID for Nuke, start-up in every mode (GUI, nuke -t, nuke -x, farm): paths only.

Puts the void-nuke package (this folder's parent) and its dependencies'
folder (see ``void_nuke/nuke/install.py``) on ``sys.path``. No UI, no network,
no server contact. Guarded: a failure prints its traceback and never stops
Nuke from starting.
"""
try:
    import os as _void_os
    import sys as _void_sys

    def _void_gizmos_dir():
        """This folder: from __file__ where Nuke sets it, else from Nuke's plugin path."""
        path = globals().get("__file__")
        if path:
            return _void_os.path.dirname(_void_os.path.abspath(path))
        import nuke
        for folder in nuke.pluginPath():
            if _void_os.path.isdir(_void_os.path.join(folder, _void_os.pardir, "void_nuke")):
                return folder
        return None

    _void_dir = _void_gizmos_dir()
    if _void_dir is not None:
        _void_repo = _void_os.path.dirname(_void_os.path.abspath(_void_dir))
        if _void_os.path.isdir(_void_os.path.join(_void_repo, "void_nuke")) and _void_repo not in _void_sys.path:
            _void_sys.path.append(_void_repo)
    from void_nuke.nuke.install import site_dir as _void_site_dir

    _void_site = _void_site_dir()
    if _void_os.path.isdir(_void_site) and _void_site not in _void_sys.path:
        _void_sys.path.append(_void_site)
except Exception:
    import traceback

    traceback.print_exc()
