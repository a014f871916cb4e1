"""A hand-written stand-in for Nuke's ``nuke`` module, for tests on machines without Nuke.

It implements only the documented API that void_nuke.nuke uses, with Nuke's
behaviour where it matters to us (``node['missing']`` raises NameError, a
Write's exr knobs exist only once ``file_type`` is exr, ``nuke.execute``
must run on the main thread, ``executeInMainThread`` fails headless). Any
other attribute raises AttributeError, so a call into undocumented or
unimplemented API fails the test instead of passing silently.

``nuke.execute`` renders real EXR files through OpenImageIO (a constant
image per frame, the Write's channels and data window), so the code under
test reads real files afterwards.

Test hooks are the names starting with ``_`` (``_reset``, ``_executed``,
``_messages``...): they are not Nuke API.
"""
from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

GUI = True
NUKE_VERSION_MAJOR = 15
NUKE_VERSION_MINOR = 1
STARTLINE = 0x1000
INVISIBLE = 0x400

_messages: List[str] = []
_executed: List[Dict[str, Any]] = []
_execute_error: Optional[str] = None
"""When set, ``execute`` raises RuntimeError with this text after the first frame."""
_main_thread_calls: List[str] = []
_script_load_callbacks: List[Callable[..., Any]] = []
_menus: Dict[str, "Menu"] = {}
_plugin_path: List[str] = []
_tasks: List["ProgressTask"] = []
_frame: Optional[int] = None
_this_node: List["Node"] = []
_this_knob: List["Knob"] = []


# -- knobs -----------------------------------------------------------------------------------

class Knob:
    _default: Any = None

    def __init__(self, name: str, label: Optional[str] = None, *_: Any) -> None:
        self._name = name
        self._label = name if label is None else label
        self._value = self._default
        self._flags = STARTLINE
        self._enabled = True
        self._tooltip = ""
        self._expression: Optional[str] = None
        self._node: Optional["Node"] = None

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def _convert(self, value: Any) -> Any:
        return value

    def value(self) -> Any:
        return self._value

    def getValue(self) -> Any:
        return self._value

    def setValue(self, value: Any) -> bool:
        self._value = self._convert(value)
        if self._node is not None:
            self._node._mutations += 1
        return True

    def toScript(self) -> str:
        return str(self._value)

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    def setVisible(self, visible: bool) -> None:
        self.setFlag(INVISIBLE) if not visible else self.clearFlag(INVISIBLE)

    def visible(self) -> bool:
        return not self.getFlag(INVISIBLE)

    def setEnabled(self, enabled: bool) -> None:
        self._enabled = bool(enabled)

    def enabled(self) -> bool:
        return self._enabled

    def setTooltip(self, text: str) -> None:
        self._tooltip = text

    def tooltip(self) -> str:
        return self._tooltip

    def setExpression(self, expression: str, channel: int = -1, view: Optional[str] = None) -> bool:
        self._expression = expression
        return True

    def hasExpression(self, index: int = -1) -> bool:
        return self._expression is not None

    def node(self) -> Optional["Node"]:
        return self._node


class String_Knob(Knob):
    _default = ""

    def __init__(self, name: str, label: Optional[str] = None, text: str = "") -> None:
        super().__init__(name, label)
        self._value = text

    def _convert(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{self._name}: a string is required")
        return value


class Multiline_Eval_String_Knob(String_Knob):
    pass


class Text_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    def fromUserText(self, text: str) -> None:
        """``path first-last``: sets the file, and on a Read the range and format."""
        match = re.match(r"^(.*?)\s+(-?\d+)-(-?\d+)$", text.strip())
        path = match.group(1) if match else text.strip()
        self.setValue(path)
        node = self._node
        if match and node is not None and node.Class() == "Read":
            first, last = int(match.group(2)), int(match.group(3))
            for knob, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
                node[knob].setValue(value)
            header = _exr_display_size(_frame_path(path, first))
            if header is not None:
                node["format"].setValue(Format(*header))


class Int_Knob(Knob):
    _default = 0

    def _convert(self, value: Any) -> Any:
        if isinstance(value, str):
            raise TypeError(f"{self._name}: an integer is required")
        return int(value)


class Boolean_Knob(Knob):
    _default = False

    def _convert(self, value: Any) -> Any:
        if isinstance(value, str):
            raise TypeError(f"{self._name}: a boolean is required")
        return bool(value)


class Disable_Knob(Boolean_Knob):
    pass


class Double_Knob(Knob):
    _default = 0.0

    def setRange(self, low: float, high: float) -> None:
        self._range = (low, high)

    def _convert(self, value: Any) -> Any:
        if isinstance(value, str):
            raise TypeError(f"{self._name}: a number is required")
        return float(value)


class ColorChip_Knob(Int_Knob):
    pass


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, values: Optional[List[str]] = None) -> None:
        super().__init__(name, label)
        self._values = list(values or [])
        self._value = self._values[0] if self._values else ""

    def values(self) -> List[str]:
        return list(self._values)

    def setValues(self, values: List[str]) -> None:
        self._values = list(values)
        if self._value not in self._values:
            self._value = self._values[0] if self._values else ""

    def _convert(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return self._values[value]
        if value not in self._values:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._values}")
        return value

    def getValue(self) -> int:
        return self._values.index(self._value)


class Array_Knob(Knob):
    _size = 1

    def __init__(self, name: str, label: Optional[str] = None) -> None:
        super().__init__(name, label)
        self._value = [0.0] * self._size

    def _convert(self, value: Any) -> Any:
        values = [float(v) for v in value]
        if len(values) != self._size:
            raise ValueError(f"{self._name}: {self._size} values are required")
        return values

    def setValue(self, value: Any, index: Optional[int] = None) -> bool:
        if index is None:
            return super().setValue(value)
        values = list(self._value)
        values[index] = float(value)
        return super().setValue(values)

    def value(self, index: int = 0) -> float:
        return self._value[index]

    def valueAt(self, time: float, index: int = 0) -> float:
        return self._value[index]

    def getValue(self) -> List[float]:
        return list(self._value)

    def arraySize(self) -> int:
        return self._size

    def toScript(self) -> str:
        return "{" + " ".join(f"{v:g}" for v in self._value) + "}"


class XY_Knob(Array_Knob):
    _size = 2


class BBox_Knob(Array_Knob):
    _size = 4


class Format_Knob(Knob):
    def _convert(self, value: Any) -> Any:
        if not isinstance(value, Format):
            raise TypeError(f"{self._name}: a Format is required")
        return value

    def toScript(self) -> str:
        return f"{self._value.width()} {self._value.height()}" if self._value else ""


class Tab_Knob(Knob):
    pass


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, command: str = "") -> None:
        super().__init__(name, label)
        self._value = command

    def execute(self) -> None:
        """Run the button's script as Nuke does: ``nuke`` in scope, thisNode set."""
        _this_node.append(self._node)  # type: ignore[arg-type]
        _this_knob.append(self)
        try:
            exec(self._value, {"nuke": __import__("nuke")})
        finally:
            _this_node.pop()
            _this_knob.pop()


class Script_Knob(PyScript_Knob):
    def execute(self) -> None:
        self._executions = getattr(self, "_executions", 0) + 1


class Channel_Knob(String_Knob):
    pass


class Format:
    def __init__(self, width: int, height: int, pixel_aspect: float = 1.0, name: str = "") -> None:
        self._w, self._h, self._pa, self._name = int(width), int(height), float(pixel_aspect), name

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h

    def pixelAspect(self) -> float:
        return self._pa

    def name(self) -> str:
        return self._name


# -- nodes -----------------------------------------------------------------------------------

def _knob_specs(cls: str) -> List[Knob]:
    common: List[Knob] = [String_Knob("label"), Int_Knob("xpos"), Int_Knob("ypos"), Boolean_Knob("selected"),
                          ColorChip_Knob("tile_color"), Disable_Knob("disable")]
    specific: Dict[str, Callable[[], List[Knob]]] = {
        "Read": lambda: [File_Knob("file"), Int_Knob("first"), Int_Knob("last"), Int_Knob("origfirst"),
                         Int_Knob("origlast"), Enumeration_Knob("frame_mode", None, ["expression", "start at",
                                                                                   "offset"]),
                         String_Knob("frame"), Boolean_Knob("raw"), String_Knob("colorspace", None,
                                                                                "default (linear)"),
                         Boolean_Knob("premultiplied"),
                         Enumeration_Knob("on_error", None, ["error", "black", "checkerboard", "nearest frame"]),
                         Script_Knob("reload"), Format_Knob("format")],
        "Write": lambda: [File_Knob("file"), Enumeration_Knob("file_type", None, [" ", "exr", "dpx", "tiff",
                                                                                  "png", "jpeg", "mov"]),
                          Channel_Knob("channels", None, "rgb"), Boolean_Knob("raw"),
                          String_Knob("colorspace", None, "default"), Boolean_Knob("create_directories")],
        "Crop": lambda: [BBox_Knob("box"), Double_Knob("softness"), Boolean_Knob("reformat"),
                         Boolean_Knob("intersect"), Boolean_Knob("crop")],
        "Group": lambda: [Multiline_Eval_String_Knob("onCreate"), Multiline_Eval_String_Knob("knobChanged")],
        "Input": lambda: [Int_Knob("number")],
        "Output": lambda: [],
        "Switch": lambda: [Int_Knob("which")],
        "Roto": lambda: [_rotopaint().CurveKnob("curves"), Format_Knob("format")],
        "RotoPaint": lambda: [_rotopaint().CurveKnob("curves"), Format_Knob("format")],
        "Grade": lambda: [Double_Knob("white"), Double_Knob("mix")],
        "Blur": lambda: [Double_Knob("size")],
        "Constant": lambda: [Format_Knob("format")],
        "Dot": lambda: [],
    }
    if cls not in specific:
        raise RuntimeError(f"{cls}: unknown command")
    knobs = common + specific[cls]()
    defaults = {"Crop": {"crop": True}, "Grade": {"white": 1.0, "mix": 1.0}}.get(cls, {})
    for knob in knobs:
        if knob.name() in defaults:
            knob._value = defaults[knob.name()]
    return knobs


def _exr_knobs() -> List[Knob]:
    return [Enumeration_Knob("datatype", None, ["16 bit half", "32 bit float"]),
            Enumeration_Knob("compression", None, ["none", "Zip (1 scanline)", "Zip (16 scanlines)",
                                                  "PIZ Wavelet (32 scanlines)", "RLE"]),
            Enumeration_Knob("metadata", None, ["default metadata", "all metadata"])]


class Node:
    def __init__(self, cls: str, group: Optional["Group"]) -> None:
        self._class = cls
        self._knobs: "OrderedDict[str, Knob]" = OrderedDict()
        self._inputs: Dict[int, "Node"] = {}
        self._group = group
        self._mutations = 0
        self._name = ""
        for knob in _knob_specs(cls):
            self._attach(knob)

    def _attach(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._name

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        group = self._group
        taken = {n.name() for n in group._nodes if n is not self} if group is not None else set()
        if name in taken:
            if not uncollide:
                raise ValueError(f"a node named {name} exists")
            stem = re.sub(r"\d+$", "", name) or name
            i = 1
            while f"{stem}{i}" in taken:
                i += 1
            name = f"{stem}{i}"
        self._name = name

    def fullName(self) -> str:
        parent = self._group
        if parent is None or isinstance(parent, Root):
            return self._name
        return f"{parent.fullName()}.{self._name}"

    def knobs(self) -> Dict[str, Knob]:
        return dict(self._knobs)

    def knob(self, name: str) -> Optional[Knob]:
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def addKnob(self, knob: Knob) -> None:
        if knob.name() in self._knobs:
            raise RuntimeError(f"{self._name} already has a knob {knob.name()}")
        self._mutations += 1
        self._attach(knob)

    def removeKnob(self, knob: Knob) -> None:
        if self._knobs.get(knob.name()) is not knob:
            raise ValueError(f"{knob.name()} is not a knob of {self._name}")
        self._mutations += 1
        del self._knobs[knob.name()]

    def setInput(self, index: int, node: Optional["Node"]) -> bool:
        self._mutations += 1
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        return True

    def input(self, index: int) -> Optional["Node"]:
        return self._inputs.get(index)

    def inputs(self) -> int:
        return max(self._inputs) + 1 if self._inputs else 0

    def format(self) -> Format:
        own = self._knobs.get("format")
        if own is not None and own.value() is not None:
            return own.value()
        source = self.input(0)
        return source.format() if source is not None else root().format()

    def firstFrame(self) -> int:
        if self._class == "Read":
            return int(self["first"].value())
        source = self.input(0)
        return source.firstFrame() if source is not None else int(root()["first_frame"].value())

    def lastFrame(self) -> int:
        if self._class == "Read":
            return int(self["last"].value())
        source = self.input(0)
        return source.lastFrame() if source is not None else int(root()["last_frame"].value())

    def setSelected(self, selected: bool) -> None:
        self["selected"].setValue(bool(selected))

    def isSelected(self) -> bool:
        return bool(self["selected"].value())

    def __repr__(self) -> str:
        return f"<{self._class} {self.fullName()}>"


class Group(Node):
    def __init__(self, cls: str, group: Optional["Group"]) -> None:
        super().__init__(cls, group)
        self._nodes: List[Node] = []

    def begin(self) -> "Group":
        _context.append(self)
        return self

    def end(self) -> None:
        _context.pop()

    def __enter__(self) -> "Group":
        return self.begin()

    def __exit__(self, *exc: Any) -> None:
        self.end()

    def nodes(self) -> List[Node]:
        return list(self._nodes)

    def input(self, index: int) -> Optional[Node]:
        return self._inputs.get(index)


class Root(Group):
    def __init__(self) -> None:
        super().__init__("Group", None)
        self._class = "Root"
        self._name = "root"
        for knob in (Int_Knob("first_frame"), Int_Knob("last_frame"), Format_Knob("format"),
                     Boolean_Knob("proxy"), Enumeration_Knob("colorManagement", None, ["Nuke", "OCIO"]),
                     String_Knob("workingSpaceLUT", None, "linear"), String_Knob("name")):
            self._attach(knob)
        self["first_frame"]._value, self["last_frame"]._value = 1, 100
        self["format"]._value = Format(1920, 1080, name="HD_1080")

    def name(self) -> str:
        return self["name"].value() or "Root"

    def format(self) -> Format:
        return self["format"].value()

    def firstFrame(self) -> int:
        return int(self["first_frame"].value())

    def lastFrame(self) -> int:
        return int(self["last_frame"].value())


_root = Root()
_context: List[Group] = [_root]


def _current() -> Group:
    return _context[-1]


def _make(cls: str, **knobs: Any) -> Node:
    group = _current()
    node: Node = Group(cls, group) if cls == "Group" else Node(cls, group)
    node.setName(knobs.pop("name", None) or f"{cls}1")
    group._nodes.append(node)
    for name, value in knobs.items():
        node[name].setValue(value)
    if cls == "Write":
        _add_write_type_knobs(node)
    return node


def _add_write_type_knobs(write: Node) -> None:
    """A Write grows its exr knobs when ``file_type`` becomes exr, as in Nuke."""
    knob = write["file_type"]
    plain_set = knob.setValue

    def set_type(value: Any) -> bool:
        plain_set(value)
        if knob.value() == "exr" and write.knob("datatype") is None:
            for extra in _exr_knobs():
                write._attach(extra)
        return True

    knob.setValue = set_type  # type: ignore[method-assign]


class _Nodes:
    """``nuke.nodes.Read(file=...)``: create a node in the current group without connecting it."""

    def __getattr__(self, cls: str) -> Callable[..., Node]:
        _knob_specs(cls)  # unknown classes fail like Nuke's

        def create(**knobs: Any) -> Node:
            knobs.pop("inpanel", None)
            return _make(cls, **knobs)
        return create


nodes = _Nodes()


def createNode(node: str, args: str = "", inpanel: bool = True) -> Node:
    """Create a node connected to the selected one, which it replaces in the selection."""
    selected = selectedNodes()
    new = _make(node)
    if len(selected) == 1:
        new.setInput(0, selected[0])
    for n in selected:
        n.setSelected(False)
    new.setSelected(True)
    return new


def root() -> Root:
    return _root


def thisNode() -> Node:
    return _this_node[-1]


def thisKnob() -> Knob:
    return _this_knob[-1]


def thisGroup() -> Group:
    return _current()


def frame() -> int:
    return _frame if _frame is not None else _root.firstFrame()


def toNode(name: str) -> Optional[Node]:
    group: Optional[Node] = _current()
    found: Optional[Node] = None
    for part in name.split("."):
        if not isinstance(group, Group):
            return None
        found = next((n for n in group._nodes if n.name() == part), None)
        if found is None:
            return None
        group = found
    return found


def allNodes(filter: Optional[str] = None, group: Optional[Group] = None, recurseGroups: bool = False) -> List[Node]:
    group = group or _current()
    found: List[Node] = []
    for node in group._nodes:
        if filter is None or node.Class() == filter:
            found.append(node)
        if recurseGroups and isinstance(node, Group):
            found.extend(allNodes(filter, node, True))
    return found


def selectedNodes(filter: Optional[str] = None) -> List[Node]:
    return [n for n in allNodes(filter) if n.isSelected()]


def delete(node: Node) -> None:
    group = node._group
    if group is None or node not in group._nodes:
        raise ValueError(f"{node!r} is not in the script")
    group._nodes.remove(node)
    for other in allNodes(group=_root, recurseGroups=True):
        for index, source in list(other._inputs.items()):
            if source is node:
                del other._inputs[index]


# -- rendering -------------------------------------------------------------------------------

def _frame_path(pattern: str, frame_number: int) -> str:
    def hashes(m: "re.Match[str]") -> str:
        return f"{frame_number:0{len(m.group(0))}d}"
    path = re.sub(r"#+", hashes, pattern)
    return re.sub(r"%0(\d+)d", lambda m: f"{frame_number:0{int(m.group(1))}d}", path)


def _exr_display_size(path: str) -> Optional[tuple]:
    if not os.path.isfile(path):
        return None
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    spec = inp.spec()
    inp.close()
    return spec.full_width, spec.full_height


def _data_window(node: Optional[Node]) -> Optional[List[float]]:
    """The box of the nearest Crop above ``node`` that sets the bbox to its box."""
    while node is not None:
        if node.Class() == "Crop" and not node["intersect"].value():
            return node["box"].value()
        node = node.input(0)
    return None


def execute(nameOrNode: Any, start: int, end: int, incr: int = 1, views: Any = None,
            continueOnError: bool = False) -> None:
    """Render a Write: one constant-valued EXR per frame, as the Write's knobs say."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("nuke.execute must be called from the main thread")
    write = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if write is None or write.Class() != "Write":
        raise RuntimeError(f"{nameOrNode!r} is not a Write node")
    pattern = write["file"].value()
    if not pattern or write["file_type"].value() != "exr":
        raise RuntimeError(f"{write.name()}: no file or file type")
    if write.input(0) is None:
        raise RuntimeError(f"{write.name()}: input is not connected")
    _executed.append({"node": write.fullName(), "first": start, "last": end,
                      "knobs": {k: v.value() for k, v in write.knobs().items()}})
    import numpy as np
    import OpenImageIO as oiio
    fmt = write.format()
    box = _data_window(write.input(0)) or [0, 0, fmt.width(), fmt.height()]
    x0, y0, x1, y1 = (int(v) for v in box)
    channels = {"rgba": ("R", "G", "B", "A"), "rgb": ("R", "G", "B"), "alpha": ("A",)}[write["channels"].value()]
    dtype = oiio.HALF if write["datatype"].value() == "16 bit half" else oiio.FLOAT
    for number in range(start, end + 1, incr):
        path = _frame_path(pattern, number)
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            if not write["create_directories"].value():
                raise RuntimeError(f"{write.name()}: cannot write {path}: no such directory")
            os.makedirs(folder)
        spec = oiio.ImageSpec(x1 - x0, y1 - y0, len(channels), dtype)
        spec.channelnames = channels
        spec.x, spec.y = x0, fmt.height() - y1  # Nuke's bbox is y-up; EXR windows are y-down
        spec.full_width, spec.full_height = fmt.width(), fmt.height()
        spec.attribute("compression", "zip")
        out = oiio.ImageOutput.create(path)
        out.open(path, spec)
        out.write_image(np.full((y1 - y0, x1 - x0, len(channels)), (number % 100) / 100.0, np.float32))
        out.close()
        if _execute_error is not None:
            raise RuntimeError(_execute_error)


def executeInMainThread(call: Callable[..., Any], args: Any = (), kwargs: Optional[Dict[str, Any]] = None) -> None:
    """Runs inline (the tests have no event loop); fails headless as Nuke does."""
    if not GUI:
        raise RuntimeError("Invalid function call in non-gui mode")
    _main_thread_calls.append(getattr(call, "__name__", repr(call)))
    call(*(args if isinstance(args, tuple) else (args,)), **(kwargs or {}))


def executeInMainThreadWithResult(call: Callable[..., Any], args: Any = (),
                                  kwargs: Optional[Dict[str, Any]] = None) -> Any:
    if not GUI:
        raise RuntimeError("Invalid function call in non-gui mode")
    return call(*(args if isinstance(args, tuple) else (args,)), **(kwargs or {}))


class ProgressTask:
    def __init__(self, name: str) -> None:
        self._name = name
        self._message = ""
        self._progress = 0
        self._cancelled = False
        _tasks.append(self)

    def setMessage(self, message: str) -> None:
        self._message = message

    def setProgress(self, value: int) -> None:
        if not isinstance(value, int):
            raise TypeError("ProgressTask.setProgress takes an int")
        self._progress = value

    def isCancelled(self) -> bool:
        return self._cancelled


def message(text: str) -> None:
    _messages.append(text)


# -- UI and start-up -------------------------------------------------------------------------

class Menu:
    def __init__(self, name: str) -> None:
        self._name = name
        self._items: "OrderedDict[str, Any]" = OrderedDict()

    def name(self) -> str:
        return self._name

    def addMenu(self, name: str, icon: str = "") -> "Menu":
        sub = self._items.get(name)
        if not isinstance(sub, Menu):
            sub = Menu(name)
            self._items[name] = sub
        return sub

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "",
                   tooltip: str = "", index: int = -1) -> None:
        self._items[name] = command

    def findItem(self, name: str) -> Any:
        return self._items.get(name)

    def items(self) -> List[Any]:
        return list(self._items.values())


def menu(name: str) -> Menu:
    return _menus.setdefault(name, Menu(name))


def addOnScriptLoad(call: Callable[..., Any], args: Any = (), kwargs: Optional[Dict[str, Any]] = None,
                    nodeClass: str = "Root") -> None:
    _script_load_callbacks.append(call)


def pluginPath() -> List[str]:
    return list(_plugin_path)


def pluginAddPath(path: str, addToSysPath: bool = True) -> None:
    _plugin_path.insert(0, path)


class Panel:
    """``nuke.Panel``: the test sets ``Panel._answers`` ({name: value}, or None for Cancel)."""

    _answers: Optional[Dict[str, Any]] = None

    def __init__(self, title: str) -> None:
        self._title = title
        self._values: Dict[str, Any] = {}

    def addEnumerationPulldown(self, name: str, value: str) -> None:
        self._values[name] = value.split()[0]

    def addFilenameSearch(self, name: str, value: str) -> None:
        self._values[name] = value

    def show(self) -> int:
        if Panel._answers is None:
            return 0
        self._values.update(Panel._answers)
        return 1

    def value(self, name: str) -> Any:
        return self._values[name]


def _rotopaint() -> Any:
    from . import rotopaint
    return rotopaint


def _reset() -> None:
    """A new empty script, GUI mode, no recorded calls."""
    global _root, GUI, _execute_error, _frame
    _root = Root()
    _context[:] = [_root]
    GUI = True
    _execute_error = None
    _frame = None
    Panel._answers = None
    for registry in (_messages, _executed, _main_thread_calls, _script_load_callbacks, _plugin_path, _tasks,
                     _this_node, _this_knob):
        registry.clear()
    _menus.clear()
