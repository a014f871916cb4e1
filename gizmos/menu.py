"""VOID for Nuke, GUI start-up only: the Nodes > VOID menu, the VOID panel, the script-load and idle hooks.

Guarded: a failure prints its traceback and never stops Nuke from starting.
Nothing here contacts a server.
"""
try:
    import void_nuke.nuke.actions as _void_actions

    _void_actions.install_menus()
except Exception:
    import traceback

    traceback.print_exc()
