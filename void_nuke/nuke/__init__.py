"""The Nuke side of void-nuke: the VOID node, its panel, export and results.

This is the only package that imports ``nuke``, ``nukescripts`` or Qt, and it
does so inside its modules, never here: ``import void_nuke.nuke`` works in any
Python (the farm, CI, a TD's shell) without Nuke. Each module is thin; the
logic that needs no Nuke lives in the rest of ``void_nuke``.

- ``node``: builds the VOID Group, its knobs, migrations and knob callbacks.
- ``snapshot``: turns a VOID node into a ``Shot`` on the main thread.
- ``export``: renders Source and mattes to EXR through a temporary Write.
- ``roto``: reads Roto/RotoPaint shapes into ``void_nuke.shapes.Shape``.
- ``points``: clicked SAM2 points kept as XY knobs on the node.
- ``results``: versioned result Reads inside the node, and the stale check.
- ``state``: the hash of everything a result depends on.
- ``jobs``: runs jobs on a worker thread, re-attaches after a restart.
- ``farm``: "Submit to farm" for the selected VOID nodes.
- ``actions``: what Nuke calls: node callbacks, buttons, script load, menus.
- ``qt``, ``panel_widget``: the dockable panel (Qt only here).
- ``install``: installs the client's dependencies into Nuke's own Python.
"""
