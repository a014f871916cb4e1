"""A hand-written stand-in for Nuke's ``nuke`` module, for tests on machines without Nuke.

It implements only the documented API that void_nuke.nuke uses (Foundry's
Nuke 14-16 Python Developer Guide and Python API reference), with Nuke's
behaviour where it matters to us. Any other attribute raises AttributeError,
so a call into undocumented or unimplemented API fails the test instead of
passing silently. Where the documentation leaves a behaviour open, a comment
names the source and the choice made.

Behaviour modelled on purpose:

- Threads (Guide, "Threading"): Nuke's API must only be used from the main
  thread. Here a knob write, a connection, a node creation or a dialog from
  another thread raises RuntimeError (in Nuke it is undefined behaviour or a
  freeze; failing loudly is the strict choice). ``executeInMainThread``
  queues the call for the main thread's event loop, which the tests run with
  ``_run_main_loop``; it fails headless, as Nuke does ("Invalid function call
  in non-gui mode"). ``nuke.execute`` must run on the main thread.
- Callbacks (Guide, "Callbacks"; ``nuke.addKnobChanged`` in the 13-16
  reference: "when the user changes a knob ... also called with dummy knobs
  when the control panel is opened or when the inputs to the node changes";
  "Use addUpdateUI() for changes that should happen even when the panel is
  closed"): a node's knobChanged script and ``addKnobChanged`` callbacks run
  only while its control panel is open (``showControlPanel``), for knob
  changes, ``showPanel``/``hidePanel`` and ``inputChange``. ``addUpdateUI``
  callbacks run for every node when the tests call ``_idle``.
- Buttons: ``PyScript_Knob.execute`` runs the script with ``nuke`` in scope,
  ``thisNode`` set and, on a Group, the Group as the current context, so
  ``nuke.selectedNodes()`` there lists the Group's own nodes (the behaviour
  the Roto "use selected" button must guard against with ``nuke.root()``).
- Files: ``File_Knob.value()`` is "normalized to technical notation if
  sequence (%4d)" and ``getEvaluatedValue()`` also evaluates TCL (File_Knob
  reference). Relative paths are left relative; Nuke resolves them against
  the root ``project_directory``.
- Undo and script state: every knob write records an undo step unless
  ``Undo.disabled()`` or the knob has NO_UNDO (Undo reference: "disable():
  Prevent recording undos until matching enable()"), and marks the script
  modified (``Root.modified``).
- Rendering: ``nuke.execute`` renders real EXR files through OpenImageIO (a
  constant image per frame, the Write's channels and data window) for the
  views the Write renders, and raises ``CancelledError`` when the test cancels.
- Deleted nodes: the Python object of a deleted node raises ValueError ("A
  PythonObject is not attached to a node") when used, as in Nuke.
- Copy and paste: ``nodeCopy``/``nodePaste`` clone nodes with every knob that
  is not DO_NOT_WRITE ("Disables writing knob data to the script file and when
  copying/pasting", NDK knob flags) and run the pasted nodes' ``onCreate``.

Test hooks are the names starting with ``_`` (``_reset``, ``_run_main_loop``,
``_idle``, ``_shows``, ``_executed``, ``_messages``...): they are not Nuke API.
"""
from __future__ import annotations

import copy
import os
import queue
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._tcl import TclError, evaluate_expression, evaluate_tcl

GUI = True
NUKE_VERSION_MAJOR = 15
NUKE_VERSION_MINOR = 1
EXE_PATH = "/usr/local/Nuke15.1v5/Nuke15.1"

# Knob flags: the FlagMask values of the NDK's Knob.h ("Knob Flags" in the NDK guide).
DISABLED = 0x00000080
NO_ANIMATION = 0x00000100
DO_NOT_WRITE = 0x00000200
INVISIBLE = 0x00000400
STARTLINE = 0x00001000
ENDLINE = 0x00002000
NO_RERENDER = 0x00004000
KNOB_CHANGED_ALWAYS = 0x00010000
NO_KNOB_CHANGED = 0x00020000
NO_UNDO = 0x00080000
READ_ONLY = 0x10000000
# Node.writeKnobs flags (the values are the fake's own; code must use the names).
TO_SCRIPT = 0x01
TO_VALUE = 0x02
WRITE_USER_KNOB_DEFS = 0x04
WRITE_NON_DEFAULT_ONLY = 0x08


class CancelledError(Exception):
    """Raised by ``nuke.execute`` when the user cancels a render (nuke module exceptions).

    Not a RuntimeError: code that only catches RuntimeError misses it.
    """


_messages: List[str] = []
_executed: List[Dict[str, Any]] = []
_execute_error: Optional[str] = None
"""When set, ``execute`` raises RuntimeError with this text after the first frame."""
_execute_cancel = False
"""When set, ``execute`` raises CancelledError after the first frame (the user pressed Cancel)."""
_main_queue: "queue.Queue[Tuple[Callable[..., Any], tuple, dict]]" = queue.Queue()
_main_thread_calls: List[str] = []
_script_load_callbacks: List[Callable[..., Any]] = []
_update_ui: List[Tuple[Callable[..., Any], tuple, dict, str]] = []
_knob_changed: List[Tuple[Callable[..., Any], tuple, dict, str]] = []
_menus: Dict[str, "Menu"] = {}
_plugin_path: List[str] = []
_tasks: List["ProgressTask"] = []
_frame: Optional[int] = None
_view: Optional[str] = None
_this_node: List["Node"] = []
_this_knob: List["Knob"] = []
_clipboards: Dict[str, List["Node"]] = {}
_callback_depth = [0]


def _on_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(f"{what} from a worker thread: Nuke's API is main-thread only; "
                           "use nuke.executeInMainThread")


# -- undo ------------------------------------------------------------------------------------

class Undo:
    """``nuke.Undo``: class-level methods, also usable on an instance and as a context manager."""

    _disabled = 0
    _steps: List[str] = []
    _group: Optional[List[str]] = None

    @staticmethod
    def disable() -> None:
        Undo._disabled += 1

    @staticmethod
    def enable() -> None:
        if Undo._disabled == 0:
            raise RuntimeError("Undo.enable() without a matching disable()")
        Undo._disabled -= 1

    @staticmethod
    def disabled() -> bool:
        return Undo._disabled > 0

    @staticmethod
    def begin(name: Optional[str] = None) -> None:
        Undo._group = []

    @staticmethod
    def end() -> None:
        if Undo._group:
            Undo._steps.append("; ".join(Undo._group))
        Undo._group = None

    @staticmethod
    def undoSize() -> int:
        return len(Undo._steps)

    @staticmethod
    def _record(what: str) -> None:
        if Undo._disabled:
            return
        if Undo._group is not None:
            Undo._group.append(what)
        else:
            Undo._steps.append(what)

    def __enter__(self) -> "Undo":
        Undo.begin()
        return self

    def __exit__(self, *exc: Any) -> None:
        Undo.end()


# -- knobs -----------------------------------------------------------------------------------

class Knob:
    _default: Any = None

    def __init__(self, name: str, label: Optional[str] = None, *_: Any) -> None:
        self._name = name
        self._label = name if label is None else label
        self._value = copy.copy(self._default)
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

    def _number(self) -> float:
        """The knob as a number in an expression."""
        return float(self.value())

    def value(self) -> Any:
        if self._expression is not None:
            return self._convert(self._evaluate(frame()))
        return self._value

    def valueAt(self, time: float, index: int = 0) -> Any:
        if self._expression is not None:
            return self._convert(self._evaluate(time))
        return self.value()

    def _evaluate(self, at: float) -> float:
        node = self._node

        def resolve(name: str) -> float:
            if "." not in name:
                if node is None:
                    raise TclError(f"no knob {name}")
                return node[name]._number()
            owner, knob = name.rsplit(".", 1)
            if owner == "parent":
                target = node._group if node is not None else None
            else:
                target = node._group._find(owner) if node is not None and node._group is not None else None
            if target is None or target.knob(knob) is None:
                raise TclError(f"bad reference {name}")
            return target[knob]._number()

        return evaluate_expression(self._expression or "0", resolve, at)

    def getValue(self) -> Any:
        return self.value()

    def setValue(self, value: Any) -> bool:
        _on_main_thread(f"setting {self._name}")
        self._value = self._convert(value)
        self._changed()
        return True

    def _changed(self) -> None:
        node = self._node
        if node is None:
            return
        node._mutations += 1
        if not self.getFlag(NO_UNDO):
            Undo._record(f"{node.name()}.{self._name}")
        _root._modified = True
        node._knob_changed(self)

    def toScript(self) -> str:
        return str(self._value)

    def fromScript(self, text: str) -> bool:
        """Set from the text a script holds (strings as they are; numbers parsed)."""
        return self.setValue(text if isinstance(self._value, str) or self._value is None else type(self._value)(text))

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
        _on_main_thread(f"setting an expression on {self._name}")
        self._expression = expression
        self._changed()
        return True

    def hasExpression(self, index: int = -1) -> bool:
        return self._expression is not None

    def node(self) -> Optional["Node"]:
        return self._node

    def _clone(self) -> "Knob":
        twin = copy.copy(self)
        twin._value = copy.deepcopy(self._value)
        twin._node = None
        return twin


class String_Knob(Knob):
    _default = ""

    def __init__(self, name: str, label: Optional[str] = None, text: str = "") -> None:
        super().__init__(name, label)
        self._value = text

    def _convert(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{self._name}: a string is required")
        return value


class EvalString_Knob(String_Knob):
    def evaluate(self) -> str:
        return _evaluate_tcl(self._value)


class Multiline_Eval_String_Knob(EvalString_Knob):
    pass


class Text_Knob(String_Knob):
    pass


_HASHES = re.compile(r"#+")


def _technical(path: str) -> str:
    """``plate.####.exr`` -> ``plate.%04d.exr`` (Nuke's "technical notation")."""
    return _HASHES.sub(lambda m: f"%0{len(m.group(0))}d", path)


class File_Knob(EvalString_Knob):
    def value(self) -> str:
        """"Normalized to technical notation if sequence (%4d)" (File_Knob reference)."""
        return _technical(self._value)

    def getValue(self) -> str:
        return self.value()

    def getText(self) -> str:
        return self._value

    def getEvaluatedValue(self, oc: Any = None) -> str:
        """TCL evaluated, technical notation; relative paths stay relative."""
        return _technical(_evaluate_tcl(self._value))

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
            header = _exr_display_size(_frame_path(_resolve_project(self.getEvaluatedValue()), first))
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
        _on_main_thread(f"setting the values of {self._name}")
        self._values = list(values)
        if self._value not in self._values:
            self._value = self._values[0] if self._values else ""
        self._changed()

    def _convert(self, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._values[int(value)]
        if value not in self._values:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._values}")
        return value

    def getValue(self) -> int:
        """The index of the selected item (an enumeration reads as its index in expressions too)."""
        return self._values.index(self.value())

    def _number(self) -> float:
        return float(self.getValue())


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

    def _number(self) -> float:
        return float(self._value[0])

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
        if isinstance(value, str):
            found = _formats.get(value)
            if found is None:
                raise ValueError(f"{self._name}: no format named {value!r} (nuke.addFormat adds one)")
            return found
        if not isinstance(value, Format):
            raise TypeError(f"{self._name}: a Format or a format name is required")
        return value

    def toScript(self) -> str:
        return f"{self._value.width()} {self._value.height()} {self._value.pixelAspect():g}" if self._value else ""


class Tab_Knob(Knob):
    pass


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: Optional[str] = None, command: str = "") -> None:
        super().__init__(name, label)
        self._value = command

    def execute(self) -> None:
        """Run the button's script as Nuke does: ``nuke`` in scope, thisNode set, in the node's group.

        A button on a Group runs with that Group as the current context (so
        ``nuke.thisGroup()`` is the Group and ``nuke.selectedNodes()`` lists
        the Group's own nodes).
        """
        _on_main_thread(f"pressing {self._name}")
        node = self._node
        _this_node.append(node)  # type: ignore[arg-type]
        _this_knob.append(self)
        entered = isinstance(node, Group)
        if entered:
            node.begin()  # type: ignore[union-attr]
        try:
            exec(self._value, {"nuke": __import__("nuke")})
        finally:
            if entered:
                node.end()  # type: ignore[union-attr]
            _this_node.pop()
            _this_knob.pop()


class Script_Knob(PyScript_Knob):
    def execute(self) -> None:
        _on_main_thread(f"pressing {self._name}")
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

_ALPHA = "rgba.alpha"


def _knob_specs(cls: str) -> List[Knob]:
    common: List[Knob] = [String_Knob("label"), Int_Knob("xpos"), Int_Knob("ypos"), Boolean_Knob("selected"),
                          ColorChip_Knob("tile_color"), Disable_Knob("disable")]
    holds = ["hold", "loop", "bounce", "black"]
    specific: Dict[str, Callable[[], List[Knob]]] = {
        "Read": lambda: [File_Knob("file"), Int_Knob("first"), Int_Knob("last"), Int_Knob("origfirst"),
                         Int_Knob("origlast"),
                         Enumeration_Knob("before", None, holds), Enumeration_Knob("after", None, holds),
                         Enumeration_Knob("frame_mode", None, ["expression", "start at", "offset"]),
                         String_Knob("frame"), Boolean_Knob("raw"), String_Knob("colorspace", None,
                                                                                "default (linear)"),
                         Boolean_Knob("premultiplied"),
                         Enumeration_Knob("on_error", None, ["error", "black", "checkerboard", "nearest frame"]),
                         Script_Knob("reload"), Format_Knob("format")],
        "Write": lambda: [File_Knob("file"), Enumeration_Knob("file_type", None, [" ", "exr", "dpx", "tiff",
                                                                                  "png", "jpeg", "mov"]),
                          Channel_Knob("channels", None, "rgb"), Boolean_Knob("raw"),
                          String_Knob("colorspace", None, "default"), Boolean_Knob("create_directories"),
                          String_Knob("views", None, " ".join(views()))],
        "Crop": lambda: [BBox_Knob("box"), Double_Knob("softness"), Boolean_Knob("reformat"),
                         Boolean_Knob("intersect"), Boolean_Knob("crop")],
        "Group": lambda: [Multiline_Eval_String_Knob("onCreate"), Multiline_Eval_String_Knob("knobChanged")],
        "Input": lambda: [Int_Knob("number")],
        "Output": lambda: [],
        "Switch": lambda: [Int_Knob("which")],
        "JoinViews": lambda: [],
        "Roto": lambda: _roto_knobs() + [Double_Knob("mix")],
        "RotoPaint": lambda: _roto_knobs(),
        "Grade": lambda: [Double_Knob("white"), Double_Knob("mix")],
        "Blur": lambda: [Double_Knob("size")],
        "Transform": lambda: [XY_Knob("translate"), Double_Knob("rotate")],
        "TimeOffset": lambda: [Int_Knob("time_offset")],
        "Constant": lambda: [Format_Knob("format"), Channel_Knob("channels", None, "rgb")],
        "CheckerBoard2": lambda: [Format_Knob("format")],
        "Dot": lambda: [],
    }
    if cls not in specific:
        raise RuntimeError(f"{cls}: unknown command")
    knobs = common + specific[cls]()
    defaults = {"Crop": {"crop": True}, "Grade": {"white": 1.0, "mix": 1.0}, "Roto": {"mix": 1.0}}.get(cls, {})
    for knob in knobs:
        if knob.name() in defaults:
            knob._value = defaults[knob.name()]
    return knobs


def _roto_knobs() -> List[Knob]:
    """The Roto/RotoPaint node knobs that change its alpha (names from a Nuke 17.1 knob listing)."""
    return [_rotopaint().CurveKnob("curves"), Format_Knob("format"),
            Enumeration_Knob("output", None, ["alpha", "rgb", "rgba", "none"]),
            Enumeration_Knob("premultiply", None, ["none", "rgb", "rgba"]),
            Boolean_Knob("replace"), Boolean_Knob("invert_mask"), Boolean_Knob("global_motionblur"),
            Int_Knob("toolbox"), String_Knob("toolbar_lifetime_type")]


def _exr_knobs() -> List[Knob]:
    return [Enumeration_Knob("datatype", None, ["16 bit half", "32 bit float"]),
            Enumeration_Knob("compression", None, ["none", "Zip (1 scanline)", "Zip (16 scanlines)",
                                                  "PIZ Wavelet (32 scanlines)", "RLE"]),
            Enumeration_Knob("metadata", None, ["default metadata", "all metadata"])]


_MAX_INPUTS = {"Read": 0, "Constant": 0, "CheckerBoard2": 0, "Input": 0, "Output": 1, "Write": 1, "Crop": 1,
               "Grade": 1, "Blur": 1, "Transform": 1, "TimeOffset": 1, "Dot": 1, "Roto": 5, "RotoPaint": 5}
"""How many inputs a class takes. Roto/RotoPaint: bg, up to three more backgrounds (Roto reference
guide: "adding a background automatically creates another bg input") and a mask."""


class Node:
    def __init__(self, cls: str, group: Optional["Group"]) -> None:
        self._class = cls
        self._knobs: "OrderedDict[str, Knob]" = OrderedDict()
        self._inputs: Dict[int, "Node"] = {}
        self._group = group
        self._mutations = 0
        self._name = ""
        self._panel_open = False
        self._deleted = False
        for knob in _knob_specs(cls):
            self._attach(knob)

    def _alive(self) -> None:
        if self._deleted:
            raise ValueError("A PythonObject is not attached to a node")

    def _attach(self, knob: Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    def Class(self) -> str:
        self._alive()
        return self._class

    def name(self) -> str:
        self._alive()
        return self._name

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        _on_main_thread("renaming a node")
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
        self._alive()
        return dict(self._knobs)

    def knob(self, name: str) -> Optional[Knob]:
        self._alive()
        return self._knobs.get(name)

    def __getitem__(self, name: str) -> Knob:
        self._alive()
        if name not in self._knobs:
            raise NameError(f"knob {name} does not exist")
        return self._knobs[name]

    def addKnob(self, knob: Knob) -> None:
        _on_main_thread("adding a knob")
        if knob.name() in self._knobs:
            raise RuntimeError(f"{self._name} already has a knob {knob.name()}")
        self._mutations += 1
        self._attach(knob)

    def removeKnob(self, knob: Knob) -> None:
        _on_main_thread("removing a knob")
        if self._knobs.get(knob.name()) is not knob:
            raise ValueError(f"{knob.name()} is not a knob of {self._name}")
        self._mutations += 1
        del self._knobs[knob.name()]

    def setInput(self, index: int, node: Optional["Node"]) -> bool:
        _on_main_thread("connecting nodes")
        limit = _MAX_INPUTS.get(self._class)
        if node is not None and limit is not None and index >= limit:
            return False
        self._mutations += 1
        if node is None:
            self._inputs.pop(index, None)
        else:
            self._inputs[index] = node
        _root._modified = True
        self._knob_changed(Knob("inputChange"))
        return True

    def input(self, index: int) -> Optional["Node"]:
        return self._inputs.get(index)

    def writeKnobs(self, flags: int = 0) -> str:
        """The knobs as a saved script writes them, one ``name value`` per line (TCL words).

        The fake writes every knob that is not DO_NOT_WRITE (it keeps no
        per-knob defaults): more than WRITE_NON_DEFAULT_ONLY would, never less.
        """
        lines = []
        for name, knob in self._knobs.items():
            if knob.getFlag(DO_NOT_WRITE) or isinstance(knob, (Tab_Knob, PyScript_Knob)):
                continue
            lines.append(f"{name} {_tcl_word(knob.toScript())}")
        return "\n".join(lines)

    def inputs(self) -> int:
        return max(self._inputs) + 1 if self._inputs else 0

    def dependencies(self, what: int = 0) -> List["Node"]:
        return [n for _, n in sorted(self._inputs.items())]

    def format(self) -> Format:
        own = self._knobs.get("format")
        if own is not None and own.value() is not None:
            return own.value()
        source = self.input(0)
        return source.format() if source is not None else root().format()

    def channels(self) -> List[str]:
        """The channels this node outputs (Node.channels)."""
        if self._class == "Read":
            return _exr_channels(_frame_path(_resolve_project(self["file"].getEvaluatedValue()),
                                             int(self["first"].value())))
        if self._class == "CheckerBoard2":
            return ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"]
        if self._class == "Constant":
            wanted = self["channels"].value()
            return [f"rgba.{c}" for c in ("red", "green", "blue", "alpha")
                    if wanted == "rgba" or (c != "alpha" and wanted == "rgb") or (wanted == "alpha" and c == "alpha")]
        source = self.input(0)
        below = source.channels() if source is not None else []
        if self._class in ("Roto", "RotoPaint") and self["output"].value() in ("alpha", "rgba"):
            return below + ([_ALPHA] if _ALPHA not in below else [])
        return below

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

    def showControlPanel(self, forceFloat: bool = False) -> None:
        _on_main_thread("opening a panel")
        self._panel_open = True
        self._knob_changed(Knob("showPanel"))

    def hideControlPanel(self) -> None:
        _on_main_thread("closing a panel")
        self._knob_changed(Knob("hidePanel"))
        self._panel_open = False

    def shown(self) -> bool:
        return self._panel_open

    def _knob_changed(self, knob: Knob) -> None:
        """The node's knobChanged script and addKnobChanged callbacks, while its panel is open."""
        if not self._panel_open or knob.getFlag(NO_KNOB_CHANGED):
            return
        script = self._knobs.get("knobChanged")
        calls = [(c, a, k) for c, a, k, cls in _knob_changed if cls in ("*", self._class)]
        if not calls and (script is None or not script.value()):
            return
        if _callback_depth[0] > 20:
            raise RuntimeError(f"{self.name()}: knobChanged keeps setting knobs that call it again")
        _callback_depth[0] += 1
        _this_node.append(self)
        _this_knob.append(knob)
        try:
            if script is not None and script.value():
                exec(script.value(), {"nuke": __import__("nuke")})
            for call, args, kwargs in calls:
                call(*args, **kwargs)
        finally:
            _this_node.pop()
            _this_knob.pop()
            _callback_depth[0] -= 1

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

    def _find(self, name: str) -> Optional[Node]:
        return next((n for n in self._nodes if n.name() == name), None)

    def input(self, index: int) -> Optional[Node]:
        return self._inputs.get(index)


class Root(Group):
    def __init__(self) -> None:
        super().__init__("Group", None)
        self._class = "Root"
        self._name = "root"
        self._modified = False
        configs = ["nuke-default", "aces_1.2", "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "custom"]
        for knob in (Int_Knob("first_frame"), Int_Knob("last_frame"), Format_Knob("format"),
                     Boolean_Knob("proxy"), Enumeration_Knob("colorManagement", None, ["Nuke", "OCIO"]),
                     Enumeration_Knob("OCIO_config", None, configs), File_Knob("customOCIOConfigPath"),
                     String_Knob("workingSpaceLUT", None, "linear"), File_Knob("name"),
                     File_Knob("project_directory"), String_Knob("views", None, "main #ffffff")):
            self._attach(knob)
        self["first_frame"]._value, self["last_frame"]._value = 1, 100
        self["format"]._value = Format(1920, 1080, name="HD_1080")

    def name(self) -> str:
        return self["name"].getText() or "Root"

    def format(self) -> Format:
        return self["format"].value()

    def firstFrame(self) -> int:
        return int(self["first_frame"].value())

    def lastFrame(self) -> int:
        return int(self["last_frame"].value())

    def modified(self) -> bool:
        return self._modified

    def setModified(self, modified: bool) -> None:
        self._modified = bool(modified)


_root = Root()
_context: List[Group] = [_root]


def _current() -> Group:
    return _context[-1]


def _make(cls: str, **knobs: Any) -> Node:
    _on_main_thread(f"creating a {cls}")
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


_formats: Dict[str, Format] = {}


def addFormat(s: str) -> Format:
    """``"width height [pixel_aspect] name"``: a named format (nuke.addFormat)."""
    words = s.split()
    width, height = int(words[0]), int(words[1])
    aspect = float(words[2]) if len(words) > 3 else 1.0
    fmt = Format(width, height, aspect, words[-1])
    _formats[words[-1]] = fmt
    return fmt


def scriptSaveAs(filename: str, overwrite: int = -1) -> None:
    """Save the script under a new name (the fake writes an empty .nk: enough for script_directory)."""
    _on_main_thread("saving the script")
    os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
    with open(filename, "w", encoding="utf-8") as fh:
        fh.write("# a script saved by the fake nuke\n")
    _root["name"].setValue(filename)
    _root._modified = False


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


def views() -> List[str]:
    """The script's views, from the root ``views`` knob ("name #colour" per line)."""
    names = [line.split()[0] for line in _root["views"].value().splitlines() if line.split()]
    return names or ["main"]


def script_directory() -> str:
    name = _root["name"].getText()
    return os.path.dirname(name) if name else ""


def toNode(name: str) -> Optional[Node]:
    group: Optional[Node] = _current()
    if name == "root":
        return _root
    found: Optional[Node] = None
    parts = name.split(".")
    if parts[0] == "root":
        group, parts = _root, parts[1:]
    for part in parts:
        if not isinstance(group, Group):
            return None
        found = group._find(part)
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
    """The selected nodes of the *current group* (Python API reference)."""
    return [n for n in allNodes(filter) if n.isSelected()]


def delete(node: Node) -> None:
    _on_main_thread("deleting a node")
    group = node._group
    if group is None or node not in group._nodes:
        raise ValueError(f"{node!r} is not in the script")
    group._nodes.remove(node)
    for gone in [node] + (allNodes(group=node, recurseGroups=True) if isinstance(node, Group) else []):
        gone._deleted = True  # Nuke's Python object outlives the node, and says so when used
    for other in allNodes(group=_root, recurseGroups=True):
        for index, source in list(other._inputs.items()):
            if source is node:
                del other._inputs[index]


# -- copy and paste --------------------------------------------------------------------------

def _clone(node: Node, into: Group, mapping: Dict[int, Node]) -> Node:
    twin: Node = Group(node._class, into) if isinstance(node, Group) else Node(node._class, into)
    twin._class = node._class
    twin._knobs = OrderedDict()
    for name, knob in node._knobs.items():
        if knob.getFlag(DO_NOT_WRITE):
            fresh = knob._clone()
            fresh._value = copy.copy(type(knob)._default) if not isinstance(knob, Enumeration_Knob) \
                else knob._values[0]
            twin._attach(fresh)
        else:
            twin._attach(knob._clone())
    if node._class == "Write":
        _add_write_type_knobs(twin)
    twin._name = node._name
    mapping[id(node)] = twin
    if isinstance(node, Group):
        for child in node._nodes:
            twin._nodes.append(_clone(child, twin, mapping))  # type: ignore[attr-defined]
    return twin


def _rewire(original: Node, mapping: Dict[int, Node]) -> None:
    twin = mapping[id(original)]
    for index, source in original._inputs.items():
        twin._inputs[index] = mapping.get(id(source), source)
    if isinstance(original, Group):
        for child in original._nodes:
            _rewire(child, mapping)


def nodeCopy(s: str) -> bool:
    """Copy the selected nodes of the current group (to ``%clipboard%`` or a file name)."""
    _on_main_thread("copying nodes")
    _clipboards[s] = list(selectedNodes())
    return True


def _run_on_create(node: Node) -> None:
    if isinstance(node, Group):
        for child in node._nodes:
            _run_on_create(child)
    script = node.knob("onCreate")
    if script is not None and script.value():
        _this_node.append(node)
        try:
            exec(script.value(), {"nuke": __import__("nuke")})
        finally:
            _this_node.pop()


def nodePaste(s: str) -> Optional[Node]:
    """Paste copies into the current group: new names, connections kept, onCreate run."""
    _on_main_thread("pasting nodes")
    originals = _clipboards.get(s, [])
    group = _current()
    mapping: Dict[int, Node] = {}
    pasted = [_clone(n, group, mapping) for n in originals]
    for original in originals:
        _rewire(original, mapping)
    for node in pasted:
        name = node._name
        node._name = ""
        group._nodes.append(node)
        node.setName(name)
    for n in allNodes():
        n["selected"]._value = False
    for node in pasted:
        node["selected"]._value = True
        _run_on_create(node)
    return pasted[-1] if pasted else None


# -- rendering -------------------------------------------------------------------------------

def _frame_path(pattern: str, frame_number: int) -> str:
    def hashes(m: "re.Match[str]") -> str:
        return f"{frame_number:0{len(m.group(0))}d}"
    path = re.sub(r"#+", hashes, pattern)
    return re.sub(r"%0(\d+)d", lambda m: f"{frame_number:0{int(m.group(1))}d}", path)


def _resolve_project(path: str) -> str:
    """A relative path joined to the evaluated root ``project_directory``, as Nuke reads files."""
    if not path or os.path.isabs(path):
        return path
    base = _root["project_directory"].getEvaluatedValue()
    return os.path.join(base, path) if base else os.path.abspath(path)


def _exr_display_size(path: str) -> Optional[tuple]:
    if not os.path.isfile(path):
        return None
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    spec = inp.spec()
    inp.close()
    return spec.full_width, spec.full_height


def _exr_channels(path: str) -> List[str]:
    if not os.path.isfile(path):
        return []
    import OpenImageIO as oiio
    inp = oiio.ImageInput.open(path)
    names = list(inp.spec().channelnames)
    inp.close()
    nuke_names = {"R": "rgba.red", "G": "rgba.green", "B": "rgba.blue", "A": "rgba.alpha"}
    return [nuke_names.get(n, n) for n in names]


def _data_window(node: Optional[Node]) -> Optional[List[float]]:
    """The box of the nearest Crop above ``node`` that sets the bbox to its box."""
    while node is not None:
        if node.Class() == "Crop" and not node["intersect"].value():
            return node["box"].value()
        node = node.input(0)
    return None


def _tcl_word(text: str) -> str:
    """``text`` as one TCL word: plain, {braced} when its braces balance, else "quoted"."""
    if text and not re.search(r'[\s{}"\\\[\]$;]', text):
        return text
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            break
    if depth == 0 and not text.endswith("\\"):
        return "{" + text + "}"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _evaluate_tcl(text: str) -> str:
    def resolve(name: str) -> Knob:
        owner, _, knob = name.rpartition(".")
        node = _root if owner == "root" else toNode(owner) if owner else (_this_node[-1] if _this_node else None)
        if node is None or node.knob(knob) is None:
            raise TclError(f"no such knob {name}")
        return node[knob]

    def python(code: str) -> Any:
        return eval(code, {"nuke": __import__("nuke")})  # noqa: S307 (test double)

    return evaluate_tcl(text, resolve, python, frame(), _view or views()[0])


def execute(nameOrNode: Any, start: int, end: int, incr: int = 1, views: Any = None,
            continueOnError: bool = False) -> None:
    """Render a Write: one constant-valued EXR per frame and view, as the Write's knobs say.

    The views rendered are ``views`` when given, else the Write's ``views``
    knob; a pattern without ``%V``/``%v`` receives every rendered view (a
    multi-view file), which ``_executed`` records.
    """
    _on_main_thread("nuke.execute")
    write = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if write is None or write.Class() != "Write":
        raise RuntimeError(f"{nameOrNode!r} is not a Write node")
    pattern = write["file"].getEvaluatedValue()
    if not pattern or write["file_type"].value() != "exr":
        raise RuntimeError(f"{write.name()}: no file or file type")
    if write.input(0) is None:
        raise RuntimeError(f"{write.name()}: input is not connected")
    known = globals()["views"]()
    rendered = list(views) if views is not None else [v for v in write["views"].value().split() if v in known]
    unknown = [v for v in rendered if v not in known]
    if unknown or not rendered:
        raise RuntimeError(f"{write.name()}: no such view {unknown or rendered}")
    _executed.append({"node": write.fullName(), "first": start, "last": end, "views": rendered,
                      "knobs": {k: v.value() for k, v in write.knobs().items()}})
    import numpy as np
    import OpenImageIO as oiio
    fmt = write.format()
    box = _data_window(write.input(0)) or [0, 0, fmt.width(), fmt.height()]
    x0, y0, x1, y1 = (int(v) for v in box)
    channels = {"rgba": ("R", "G", "B", "A"), "rgb": ("R", "G", "B"), "alpha": ("A",)}[write["channels"].value()]
    dtype = oiio.HALF if write["datatype"].value() == "16 bit half" else oiio.FLOAT
    for number in range(start, end + 1, incr):
        for view in rendered:
            path = _resolve_project(_frame_path(pattern.replace("%V", view).replace("%v", view[:1]), number))
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
        if _execute_cancel:
            raise CancelledError("Cancelled")
        if _execute_error is not None:
            raise RuntimeError(_execute_error)


# -- the main thread -------------------------------------------------------------------------

def executeInMainThread(call: Callable[..., Any], args: Any = (), kwargs: Optional[Dict[str, Any]] = None) -> None:
    """Queue ``call`` for the main thread's event loop; fails headless, as Nuke does."""
    if not GUI:
        raise RuntimeError("Invalid function call in non-gui mode")
    _main_queue.put((call, args if isinstance(args, tuple) else (args,), kwargs or {}))


def executeInMainThreadWithResult(call: Callable[..., Any], args: Any = (),
                                  kwargs: Optional[Dict[str, Any]] = None) -> Any:
    """Run ``call`` on the main thread and wait for it (never from the main thread itself)."""
    if not GUI:
        raise RuntimeError("Invalid function call in non-gui mode")
    if threading.current_thread() is threading.main_thread():
        raise RuntimeError("executeInMainThreadWithResult called from the main thread waits on itself")
    done = threading.Event()
    box: List[Any] = []

    def run(*a: Any, **k: Any) -> None:
        try:
            box.append(call(*a, **k))
        finally:
            done.set()

    executeInMainThread(run, args, kwargs)
    done.wait()
    return box[0] if box else None


def _run_main_loop(until: Optional[Callable[[], bool]] = None, timeout: float = 10.0) -> int:
    """Test hook: be Nuke's event loop. Runs queued main-thread calls until ``until()`` or idle.

    Returns how many calls ran. Without ``until`` it returns once the queue is
    empty; with it, it waits (up to ``timeout``) for work until ``until()``.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("the main loop runs on the main thread")
    ran, deadline = 0, time.monotonic() + timeout
    while True:
        if until is not None and until():
            return ran
        try:
            call, args, kwargs = _main_queue.get(timeout=0.01 if until is not None else 0.0)
        except queue.Empty:
            if until is None:
                return ran
            if time.monotonic() > deadline:
                raise TimeoutError("the main loop waited too long")
            continue
        _main_thread_calls.append(getattr(call, "__name__", repr(call)))
        call(*args, **kwargs)
        ran += 1


def _idle() -> None:
    """Test hook: Nuke goes idle after a change, running every ``addUpdateUI`` callback on every node."""
    for node in allNodes(group=_root, recurseGroups=True):
        for call, args, kwargs, cls in list(_update_ui):
            if cls in ("*", node.Class()):
                _this_node.append(node)
                try:
                    call(*args, **kwargs)
                finally:
                    _this_node.pop()


def _shows(node: Node, at: Optional[int] = None, view: Optional[str] = None) -> Node:
    """Test hook: the node whose image ``node`` outputs at frame ``at`` in ``view``.

    Follows what passes images through unchanged: a Group's Output, Input
    (to the Group's input), Dot, disabled nodes, Switch (by its ``which`` at
    that frame, clamped to the inputs as Nuke does) and JoinViews (the input
    of the view, in ``nuke.views()`` order).
    """
    global _frame, _view
    saved = (_frame, _view)
    _frame, _view = (at if at is not None else frame()), (view or views()[0])
    try:
        current: Optional[Node] = node
        while current is not None:
            if isinstance(current, Group) and not isinstance(current, Root) and current._find("Output"):
                current = current._find("Output").input(0)  # type: ignore[union-attr]
            elif current.Class() == "Input":
                group = current._group
                current = group.input(int(current["number"].value())) if group is not None else None
            elif current.Class() in ("Dot", "Output") or (current.knob("disable") and current["disable"].value()):
                current = current.input(0)
            elif current.Class() == "Switch":
                which = int(round(float(current["which"].value())))
                current = current.input(max(0, min(which, max(current.inputs() - 1, 0))))
            elif current.Class() == "JoinViews":
                current = current.input(views().index(_view))
            else:
                return current
        raise RuntimeError(f"{node.name()} outputs nothing at frame {_frame}")
    finally:
        _frame, _view = saved


# -- progress, dialogs, UI and start-up ------------------------------------------------------

class ProgressTask:
    """Nuke's progress bar; documented for use from a worker thread."""

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
    """A modal dialog: main thread only (a dialog from a thread freezes Nuke)."""
    _on_main_thread("nuke.message")
    _messages.append(text)


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


def addUpdateUI(call: Callable[..., Any], args: Any = (), kwargs: Optional[Dict[str, Any]] = None,
                nodeClass: str = "*") -> None:
    _update_ui.append((call, tuple(args), dict(kwargs or {}), nodeClass))


def addKnobChanged(call: Callable[..., Any], args: Any = (), kwargs: Optional[Dict[str, Any]] = None,
                   nodeClass: str = "*", node: Any = None) -> None:
    _knob_changed.append((call, tuple(args), dict(kwargs or {}), nodeClass))


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
        _on_main_thread("showing a panel")
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
    global _root, GUI, _execute_error, _execute_cancel, _frame, _view
    _root = Root()
    _context[:] = [_root]
    GUI = True
    _execute_error = None
    _execute_cancel = False
    _frame = None
    _view = None
    Panel._answers = None
    Undo._disabled, Undo._group = 0, None
    Undo._steps.clear()
    while not _main_queue.empty():
        _main_queue.get_nowait()
    for registry in (_messages, _executed, _main_thread_calls, _script_load_callbacks, _plugin_path, _tasks,
                     _this_node, _this_knob, _update_ui, _knob_changed):
        registry.clear()
    _menus.clear()
    _clipboards.clear()
    _formats.clear()
    _callback_depth[0] = 0
