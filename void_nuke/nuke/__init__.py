"""The Nuke side of void-nuke: the VOID node, its panel, export and results.

This is the only package that imports ``nuke``, ``nukescripts`` or Qt, and it
does so inside its modules, never here: ``import void_nuke.nuke`` works in any
Python (the farm, CI, a TD's shell) without Nuke. Each module is thin; the
logic that needs no Nuke lives in the rest of ``void_nuke``.

- ``node``: builds the VOID Group, its knobs, migrations and knob callbacks.
- ``snapshot``: turns a VOID node into a ``Shot`` on the main thread.
- ``mattes``: per Remove/Affected input, Roto shapes or its alpha rendered, and why.
- ``roto``: reads Roto/RotoPaint shapes as Nuke draws them into ``void_nuke.shapes.Shape``.
- ``export``: renders Source and mattes to EXR through a temporary Write.
- ``paths``: file paths as Nuke evaluates them (TCL, the project directory).
- ``colour``: the script's OCIO config.
- ``points``: clicked SAM2 points kept as XY knobs on the node.
- ``results``: versioned result Reads inside the node (streamed in), and the stale check.
- ``state``: the hash of everything a result depends on.
- ``jobs``: runs jobs on a worker thread, streams results in, re-attaches after a restart.
- ``farm``: "Submit to farm" for the selected VOID nodes.
- ``actions``: what Nuke calls: node callbacks, buttons, script load, menus.
- ``qt``, ``panel_widget``: the dockable panel (Qt only here).
- ``install``: installs the client's dependencies into Nuke's own Python.
"""
