"""Runs inside a real Nuke: ``nuke -t nuke_cases.py CASE OUT``. Prints one line ``VOID_CASE {json}``.

Each case builds its scene in Python and records what void-nuke reads from
it *and* what Nuke itself renders (alpha EXRs written by a Write), so that
tests/nuke/test_nuke_real.py can rasterise our shapes and compare them with
Nuke's pixels: a fake ``nuke`` that is wrong about the Roto API shows up here.

Cases: open_spline, bspline, minus, hidden_layer, tcl_output, stereo.
"""
import json
import os
import sys

import nuke
import nuke.rotopaint as rp

from void_nuke.nuke import node as void_node
from void_nuke.nuke import snapshot
from void_nuke.nuke.roto import read_roto
from void_nuke.sequences import FrameRange

CASE, OUT = sys.argv[1], sys.argv[2]
W, H = 96, 64
FRAMES = FrameRange(1, 2)

nuke.addFormat("%d %d 1 void_case" % (W, H))
root = nuke.root()
root["format"].setValue("void_case")
root["first_frame"].setValue(1)
root["last_frame"].setValue(2)


def roto(name):
    node = nuke.nodes.Roto(name=name)
    node["format"].setValue("void_case")
    return node


def shape(node, name, points, **kwargs):
    element = rp.Shape(node["curves"], **kwargs)
    for point in points:
        element.append(point)
    element.name = name
    return element


def render_alpha(node, name):
    """Nuke's own alpha of ``node`` on frames 1-2, as EXRs; returns the pattern."""
    pattern = os.path.join(OUT, "nuke", name + ".####.exr")
    write = nuke.nodes.Write()
    try:
        write.setInput(0, node)
        write["file_type"].setValue("exr")
        write["file"].setValue(pattern)
        write["channels"].setValue("alpha")
        write["raw"].setValue(True)
        write["create_directories"].setValue(True)
        nuke.execute(write, 1, 2)
    finally:
        nuke.delete(write)
    return pattern


def read(node):
    found = read_roto(node, FRAMES, "remove", (W, H))
    return {"shapes": [s.to_dict() for s in found.shapes], "reasons": list(found.reasons)}


def case_open_spline():
    closed = roto("Closed")
    closed["curves"].rootLayer.append(shape(closed, "Square", ((10, 10), (40, 10), (40, 40), (10, 40))))
    both = roto("Both")
    both["curves"].rootLayer.append(shape(both, "Square", ((10, 10), (40, 10), (40, 40), (10, 40))))
    line = shape(both, "Line", ((55, 10), (80, 30), (55, 50)))
    line.setFlag(rp.FlagType.eOpenFlag, True)
    both["curves"].rootLayer.append(line)
    return dict(read(both), closed_only=render_alpha(closed, "closed"), with_line=render_alpha(both, "both"),
                line_point=[67, 20])


def case_bspline():
    node = roto("Bspline")
    node["curves"].rootLayer.append(shape(node, "Blob", ((15, 10), (70, 8), (85, 45), (45, 58), (12, 40)),
                                          type="bspline"))
    return dict(read(node), nuke=render_alpha(node, "bspline"))


def case_minus():
    node = roto("Minus")
    hole = shape(node, "Hole", ((30, 20), (60, 20), (60, 44), (30, 44)))
    hole.getAttributes().set("bm", 12)  # minus; the first element is drawn on top
    node["curves"].rootLayer.append(hole)
    node["curves"].rootLayer.append(shape(node, "Base", ((10, 8), (86, 8), (86, 56), (10, 56))))
    return dict(read(node), nuke=render_alpha(node, "minus"))


def case_hidden_layer():
    node = roto("Layered")
    layer = rp.Layer(node["curves"])
    layer.name = "Hidden"
    layer.append(shape(node, "Square", ((20, 12), (60, 12), (60, 50), (20, 50))))
    layer.setVisible(1, True)
    layer.setVisible(2, False)
    node["curves"].rootLayer.append(layer)
    return dict(read(node), nuke=render_alpha(node, "hidden"))


def _void_on_checkerboard():
    board = nuke.nodes.CheckerBoard2(format="void_case")
    for n in nuke.allNodes():
        n.setSelected(n is board)
    group = void_node.create_void_node()
    matte = roto("Matte")
    matte["curves"].rootLayer.append(shape(matte, "Square", ((10, 10), (40, 10), (40, 40), (10, 40))))
    group.setInput(1, matte)
    group["frames"].setValue("1-2")
    return group


def case_tcl_output():
    nuke.scriptSaveAs(os.path.join(OUT, "comp", "sh010_comp.nk"))
    group = _void_on_checkerboard()
    group["output"].setValue("[file dirname [value root.name]]/void")
    shot = snapshot.take(group).shot
    return {"output": shot.output.directory, "expected": os.path.join(OUT, "comp", "void"),
            "literal_folder": os.path.isdir(os.path.join(os.getcwd(), "[file dirname [value root.name]]"))}


def case_stereo():
    root["views"].fromScript("left #ff0000\nright #00ff00")
    group = _void_on_checkerboard()
    group["output"].setValue(os.path.join(OUT, "void"))
    group["view"].setValue("right")
    shot = snapshot.take(group).shot
    return {"views": list(nuke.views()), "view": shot.view, "plate": shot.plate,
            "frames": [shot.plate_sequence.path(f) for f in (1, 2)]}


result = globals()["case_" + CASE]()
print("VOID_CASE " + json.dumps(result))
