"""Runs inside a real Nuke (``nuke -t nuke_smoke.py OUT``): builds a scene in Python, snapshots a VOID node.

Prints one line ``VOID_SMOKE {json}`` for tests/nuke/test_nuke_real.py to check.
No server is contacted; the snapshot exports the Source through the temporary Write.
"""
import json
import os
import sys

import nuke
import nuke.rotopaint as rp

from void_nuke.nuke import node as void_node
from void_nuke.nuke import snapshot

out = sys.argv[1]
nuke.addFormat("64 32 1 void_smoke")
root = nuke.root()
root["format"].setValue("void_smoke")
root["first_frame"].setValue(1)
root["last_frame"].setValue(3)

checker = nuke.nodes.CheckerBoard2(format="void_smoke")
for n in nuke.allNodes():
    n.setSelected(n is checker)
group = void_node.create_void_node()
group["output"].setValue(out)
group["frames"].setValue("1-3")

roto = nuke.nodes.Roto(format="void_smoke")
shape = rp.Shape(roto["curves"])
for point in ((10.0, 10.0), (30.0, 10.0), (30.0, 20.0), (10.0, 20.0)):
    shape.append(point)
shape.name = "Bezier1"
roto["curves"].rootLayer.append(shape)
group.setInput(1, roto)  # the Remove input: shapes are read from the Roto nodes feeding it

snap = snapshot.take(group)
with group:
    leftovers = [n.Class() for n in nuke.allNodes() if n.Class() in ("Write", "Crop")]
key = snap.shot.shapes[0].keys[0]
print("VOID_SMOKE " + json.dumps({
    "plate": snap.shot.plate,
    "plate_exists": [os.path.isfile(snap.shot.plate_sequence.path(f)) for f in (1, 2, 3)],
    "points": [[round(p.x, 6), round(p.y, 6)] for p in key.points],
    "leftovers": leftovers,
    "inputs": group.inputs(),
    "version_knob": group[void_node.VERSION_KNOB].value(),
}))
