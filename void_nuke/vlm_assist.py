"""Affected-region proposals from a vision-language model (optional; off unless a URL is given).

VOID's quadmask marks not only the object to remove but what its removal
changes: shadows and reflections that vanish, held things that fall. VOID's own
tools ask a VLM for those; this module does the same through any
OpenAI-compatible chat-completions endpoint (Gemini's, a local vLLM...):

1. frames sampled across the shot, with a labelled grid, plus the first frame
   with the object to remove tinted red, and the edit instruction;
2. the model answers JSON: affected objects with grid cells per frame or a
   trajectory of grid positions, integral belongings, a scene description;
3. the answer is validated and turned into a ``Proposal``: editable Roto
   rectangles (role ``affected``, one key per frame the model located it on)
   and a suggested prompt.

Nothing is applied by itself: ``Proposal.accept(shot)`` returns a new shot only
when the artist or TD asks for it. HTTP uses only the standard library and
images are encoded with OpenImageIO, so this runs in Nuke's Python too.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_write_bytes
from .display import to_uint8
from .errors import ImageError, VoidError
from .exrio import write_display_image
from .shapes import ControlPoint, Shape, ShapeKey
from .shot import Shot

DEFAULT_MODEL = "gemini-3-pro-preview"
DEFAULT_KEY_ENV = "GEMINI_API_KEY"
MAX_AFFECTED = 5
MAX_BELONGINGS = 3
YELLOW = (1.0, 0.9, 0.0)
SYSTEM_MESSAGE = ("You analyse video frames for a visual-effects object removal. Reason about physics and "
                  "light, then answer with a single JSON object and nothing else.")

ReadFrame = Callable[[int], np.ndarray]
"""frame → display-referred uint8 RGB ``(H, W, 3)`` of the whole display window."""


class VlmError(VoidError):
    code = "vlm"


# -- configuration -------------------------------------------------------------------------

@dataclass(frozen=True)
class VlmConfig:
    """Where the model is and how to ask it."""

    url: str
    """Base URL of an OpenAI-compatible API (``.../v1``) or its ``/chat/completions`` endpoint."""
    model: str = DEFAULT_MODEL
    key_env: str = DEFAULT_KEY_ENV
    """Environment variable holding the API key; unset → no Authorization header (local servers)."""
    timeout_s: float = 180.0
    max_side: int = 1280
    """Frames are scaled down so their longer side is at most this many pixels."""
    sample_count: int = 10

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"


# -- the grid ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grid:
    """Rows × columns of near-square cells over the display window (8 along the short side)."""

    rows: int
    cols: int
    width: int
    height: int

    @classmethod
    def for_size(cls, width: int, height: int, short_side_cells: int = 8) -> "Grid":
        if width >= height:
            return cls(short_side_cells, max(short_side_cells, round(short_side_cells * width / height)),
                       width, height)
        return cls(max(short_side_cells, round(short_side_cells * height / width)), short_side_cells,
                   width, height)

    def contains(self, row: int, col: int) -> bool:
        return 0 <= row < self.rows and 0 <= col < self.cols

    def box(self, row0: float, col0: float, row1: float, col1: float) -> Tuple[float, float, float, float]:
        """Pixels (x0, y0, x1, y1) covering cell rows [row0, row1) and columns [col0, col1), clipped."""
        cw, ch = self.width / self.cols, self.height / self.rows
        return (max(0.0, col0 * cw), max(0.0, row0 * ch), min(float(self.width), col1 * cw),
                min(float(self.height), row1 * ch))

    def to_dict(self) -> Dict[str, int]:
        return {"rows": self.rows, "cols": self.cols, "width": self.width, "height": self.height}


# -- what the model proposes ---------------------------------------------------------------

@dataclass(frozen=True)
class AffectedObject:
    """One thing the model says the removal changes, normalised and checked against the grid."""

    noun: str
    category: str
    why: str = ""
    will_move: bool = False
    first_frame: Optional[int] = None
    cells_by_frame: Tuple[Tuple[int, Tuple[Tuple[int, int], ...]], ...] = ()
    """(frame, ((row, col), ...)) where the model located it."""
    size: Optional[Tuple[int, int]] = None
    """(rows, cols) of cells it covers, for a trajectory."""
    trajectory: Tuple[Tuple[int, int, int], ...] = ()
    """(frame, row, col) of its centre at keyframes."""
    original_cell: Optional[Tuple[int, int]] = None
    """Where it should have stayed, for objects the removed one set moving."""

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"noun": self.noun, "category": self.category, "why": self.why,
                                "will_move": self.will_move}
        if self.first_frame is not None:
            data["first_appears_frame"] = self.first_frame
        if self.cells_by_frame:
            data["grid_localizations"] = [{"frame": f, "grid_regions": [{"row": r, "col": c} for r, c in cells]}
                                          for f, cells in self.cells_by_frame]
        if self.size:
            data["object_size_grids"] = {"rows": self.size[0], "cols": self.size[1]}
        if self.trajectory:
            data["trajectory_path"] = [{"frame": f, "grid_row": r, "grid_col": c} for f, r, c in self.trajectory]
        if self.original_cell:
            data["original_position_grid"] = {"row": self.original_cell[0], "col": self.original_cell[1]}
        return data


@dataclass(frozen=True)
class Proposal:
    """The model's proposal: editable affected shapes and a suggested prompt. Applied only by ``accept``."""

    shapes: Tuple[Shape, ...]
    scene_description: str
    objects: Tuple[AffectedObject, ...] = ()
    integral_belongings: Tuple[Tuple[str, str], ...] = ()
    """(noun, why) of things that go with the removed object (a bike under its rider): click them for SAM2."""
    confidence: Optional[float] = None
    grid: Optional[Grid] = None
    frames: Tuple[int, ...] = ()
    """The frames the model was shown."""
    model: str = ""
    warnings: Tuple[str, ...] = ()
    raw: str = ""

    def accept(self, shot: Shot, shapes: Optional[Sequence[str]] = None, use_prompt: bool = True) -> Shot:
        """A copy of ``shot`` with the proposed shapes (all, or those named) and the suggested prompt."""
        chosen = [s for s in self.shapes if shapes is None or s.name in shapes]
        unknown = sorted(set(shapes or ()) - {s.name for s in self.shapes})
        if unknown:
            raise VlmError(f"the proposal has no shape named {', '.join(unknown)}; it has "
                           f"{', '.join(s.name for s in self.shapes) or 'none'}")
        taken = {s.name for s in shot.shapes}
        added = []
        for s in chosen:
            name, n = s.name, 2
            while name in taken:
                name, n = f"{s.name} {n}", n + 1
            taken.add(name)
            added.append(replace(s, name=name))
        prompt = self.scene_description if use_prompt and self.scene_description else shot.prompt
        return shot.with_changes(shapes=tuple(shot.shapes) + tuple(added), prompt=prompt)

    def to_dict(self) -> Dict[str, Any]:
        return {"version": 1, "model": self.model, "frames": list(self.frames),
                "grid": self.grid.to_dict() if self.grid else None,
                "scene_description": self.scene_description, "confidence": self.confidence,
                "integral_belongings": [{"noun": n, "why": w} for n, w in self.integral_belongings],
                "affected_objects": [o.to_dict() for o in self.objects],
                "shapes": [s.to_dict() for s in self.shapes],
                "warnings": list(self.warnings), "raw": self.raw}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Proposal":
        """Read a saved proposal: its (possibly hand-edited) shapes and prompt are what ``accept`` uses."""
        if not isinstance(data, Mapping) or "shapes" not in data:
            raise VlmError("not a void-nuke proposal: expected a table with shapes and scene_description")
        grid = data.get("grid")
        return cls(shapes=tuple(Shape.from_dict(s, i) for i, s in enumerate(data.get("shapes") or [])),
                   scene_description=str(data.get("scene_description") or ""),
                   integral_belongings=tuple((str(b.get("noun", "")), str(b.get("why", "")))
                                             for b in data.get("integral_belongings") or []),
                   confidence=data.get("confidence"),
                   grid=Grid(**grid) if isinstance(grid, Mapping) else None,
                   frames=tuple(int(f) for f in data.get("frames") or []),
                   model=str(data.get("model") or ""),
                   warnings=tuple(str(w) for w in data.get("warnings") or []),
                   raw=str(data.get("raw") or ""))

    def save(self, path: str) -> None:
        """Write the proposal as JSON, atomically; an existing file is never replaced."""
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str) -> "Proposal":
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.from_dict(json.load(fh))
        except (OSError, ValueError) as exc:
            raise VlmError(f"cannot read the proposal {path}: {exc}") from None


# -- asking --------------------------------------------------------------------------------

def propose(config: VlmConfig, frames: Sequence[int], read_frame: ReadFrame, primary_frame: int,
            primary_mask: np.ndarray, instruction: str) -> Proposal:
    """Ask the model what removing the red-tinted object changes; return its checked proposal.

    ``primary_mask`` is the object to remove on ``primary_frame`` (bool or 0-1 floats over
    the display window); ``frames`` are the shot's frames, of which ``config.sample_count``
    are shown.
    """
    frames = list(frames)
    shown = sample_frames(frames, config.sample_count)
    first = read_frame(primary_frame)
    height, width = first.shape[:2]
    grid = Grid.for_size(width, height)
    images = [(f"Frame {primary_frame}: the object to remove is tinted red.",
               annotate(tint(first, primary_mask), grid, f"Frame {primary_frame}", config.max_side))]
    for frame in shown:
        images.append((f"Frame {frame}:", annotate(read_frame(frame), grid, f"Frame {frame}",
                                                   config.max_side)))
    body = build_request(config.model, instruction_text(instruction, grid, frames, shown), images)
    answer = post_chat(config, body)
    return parse_proposal(answer, grid, frames, shown, model=config.model)


def sample_frames(frames: Sequence[int], count: int) -> List[int]:
    """``count`` frames spread evenly over ``frames``, first and last included."""
    if len(frames) <= count:
        return list(frames)
    picks = sorted({int(round(i * (len(frames) - 1) / (count - 1))) for i in range(count)})
    return [frames[i] for i in picks]


def instruction_text(instruction: str, grid: Grid, frames: Sequence[int], shown: Sequence[int]) -> str:
    """The task, the grid convention and the JSON shape expected back."""
    return f"""Task: an object is being removed from a video shot (frames {frames[0]}-{frames[-1]}).
Edit instruction: "{instruction}"

You are shown the frame where the object to remove is tinted red, then frames {', '.join(map(str, shown))}.
A yellow grid of {grid.rows} rows x {grid.cols} columns covers every image; rows are numbered 0-{grid.rows - 1}
from the top, columns 0-{grid.cols - 1} from the left. Refer to frames by the numbers printed on them.

Work out what else changes once the red object is gone:
1. integral_belongings (0-{MAX_BELONGINGS}): things that must go with it because they are part of it
   (a bike being ridden, a worn backpack, a surfboard underfoot) - not things it merely holds.
2. affected_objects (0-{MAX_AFFECTED}): things that stay in the shot but must look or move differently.
   - category "visual_artifact": shadows, reflections, ripples, splashes, footprints it causes. These vanish.
     Give grid_localizations: for every frame shown where it is visible, every grid cell it touches
     (cover generously; too many cells is better than too few).
   - category "physical": objects it touches. will_move is true only if the removed object holds it up
     against gravity (it would fall); an object resting on a table or floor that is only pushed, opened or
     squeezed stays put (will_move false). For will_move true give object_size_grids (cells it spans, plus
     one cell of margin) and trajectory_path: 3-5 keyframes of its centre cell from first_appears_frame to
     the end. If the removed object set it moving (hit, kicked, thrown) give currently_moving true,
     should_have_stayed true and original_position_grid, the cell where it was at rest.
3. scene_description: one or two sentences describing the shot as it should look without the object.
Leave out anything the removed object never affects. When unsure, leave it out.

Answer with this JSON object only:
{{"integral_belongings": [{{"noun": "...", "why": "..."}}],
 "affected_objects": [{{"noun": "shadow", "category": "visual_artifact", "why": "...", "will_move": false,
   "first_appears_frame": {shown[0]},
   "grid_localizations": [{{"frame": {shown[0]}, "grid_regions": [{{"row": 5, "col": 3}}]}}]}},
  {{"noun": "cup", "category": "physical", "why": "...", "will_move": true, "first_appears_frame": {shown[0]},
   "object_size_grids": {{"rows": 2, "cols": 2}},
   "trajectory_path": [{{"frame": {shown[0]}, "grid_row": 3, "grid_col": 4}}]}}],
 "scene_description": "...", "confidence": 0.8}}"""


def build_request(model: str, text: str, images: Sequence[Tuple[str, np.ndarray]]) -> Dict[str, Any]:
    """A chat-completions body: the system message, then the task and the captioned JPEG frames."""
    content: List[Dict[str, Any]] = [{"type": "text", "text": text}]
    for caption, pixels in images:
        content.append({"type": "text", "text": caption})
        data = base64.b64encode(encode_jpeg(pixels)).decode("ascii")
        content.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}})
    return {"model": model, "messages": [{"role": "system", "content": SYSTEM_MESSAGE},
                                         {"role": "user", "content": content}]}


def post_chat(config: VlmConfig, body: Mapping[str, Any]) -> str:
    """POST the request; return the assistant's text. Errors say what failed and what to check."""
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(config.key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(config.endpoint, data=json.dumps(body).encode("utf-8"),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout_s) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:400].decode("utf-8", "replace")
        hint = (f"check the API key in ${config.key_env}" if exc.code in (401, 403)
                else "check the URL and model name" if exc.code in (400, 404)
                else "the service failed; try again later")
        raise VlmError(f"the VLM at {config.endpoint} answered HTTP {exc.code} ({detail.strip()[:200]}); {hint}",
                       code="vlm_http", detail={"status": exc.code, "body": detail}) from None
    except (socket.timeout, TimeoutError):
        raise VlmError(f"the VLM at {config.endpoint} did not answer within {config.timeout_s:g} s; "
                       "raise the timeout or check the service", code="vlm_timeout") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise VlmError(f"the VLM at {config.endpoint} did not answer within {config.timeout_s:g} s; "
                           "raise the timeout or check the service", code="vlm_timeout") from None
        raise VlmError(f"cannot reach the VLM at {config.endpoint}: {exc.reason}; check the URL",
                       code="vlm_unreachable") from None
    try:
        message = json.loads(payload.decode("utf-8"))["choices"][0]["message"]
        content = message["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise VlmError(f"{config.endpoint} did not answer like a chat-completions API "
                       f"({payload[:200].decode('utf-8', 'replace')!r}); check the URL", code="vlm_protocol") from None
    if isinstance(content, list):  # some servers answer with content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str) or not content.strip():
        raise VlmError(f"the VLM at {config.endpoint} gave an empty answer; try again or another model",
                       code="vlm_bad_answer")
    return content


# -- reading the answer --------------------------------------------------------------------

def extract_json(text: str) -> Dict[str, Any]:
    """The JSON object in a model's answer, tolerating code fences and prose around it."""
    cleaned = re.sub(r"^```[a-zA-Z]*\s*|\s*```\s*$", "", text.strip())
    candidates = [cleaned]
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if 0 <= start < end:
        candidates.append(cleaned[start:end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    raise VlmError("the model's answer is not a JSON object; ask again (the proposal was not changed)",
                   code="vlm_bad_answer", detail={"raw": text[:2000]})


class _Reader:
    """Tolerant field readers that note what they had to drop."""

    def __init__(self, grid: Grid, frames: Sequence[int]) -> None:
        self.grid = grid
        self.frames = list(frames)
        self.warnings: List[str] = []
        self.offset = 0
        """Added to every frame the model gives (see ``detect_index_frames``)."""

    def integer(self, value: Any) -> Optional[int]:
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        return None

    def frame(self, value: Any, what: str) -> Optional[int]:
        f = self.integer(value)
        if f is None:
            self.warnings.append(f"{what}: frame {value!r} is not a frame number; dropped")
            return None
        f += self.offset
        if f < self.frames[0] or f > self.frames[-1]:
            clamped = min(max(f, self.frames[0]), self.frames[-1])
            self.warnings.append(f"{what}: frame {f} is outside {self.frames[0]}-{self.frames[-1]}; "
                                 f"used {clamped}")
            return clamped
        return f

    def cell(self, row: Any, col: Any, what: str) -> Optional[Tuple[int, int]]:
        r, c = self.integer(row), self.integer(col)
        if r is None or c is None or not self.grid.contains(r, c):
            self.warnings.append(f"{what}: cell ({row}, {col}) is not on the {self.grid.rows}x{self.grid.cols} "
                                 "grid; dropped")
            return None
        return r, c

    def detect_index_frames(self, data: Mapping[str, Any]) -> None:
        """If every frame in the answer is a 0-based index into the shot, shift them onto its frames."""
        found: List[int] = []

        def walk(node: Any, key: str = "") -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif key in ("frame", "first_appears_frame"):
                value = self.integer(node)
                if value is not None:
                    found.append(value)

        walk(data.get("affected_objects"))
        first = self.frames[0]
        if found and first > 0 and all(0 <= f < len(self.frames) and f < first for f in found):
            self.offset = first
            self.warnings.append(f"the model numbered frames from 0; read them as {first} + n")


def parse_proposal(text: str, grid: Grid, frames: Sequence[int], shown: Sequence[int],
                   model: str = "") -> Proposal:
    """Validate the model's JSON answer and turn it into a proposal of affected shapes."""
    data = extract_json(text)
    read = _Reader(grid, frames)
    read.detect_index_frames(data)
    raw_objects = data.get("affected_objects") or []
    if not isinstance(raw_objects, list):
        raise VlmError("the model's affected_objects is not a list; ask again", code="vlm_bad_answer",
                       detail={"raw": text[:2000]})
    if len(raw_objects) > MAX_AFFECTED:
        read.warnings.append(f"the model listed {len(raw_objects)} affected objects; kept the first {MAX_AFFECTED}")
    objects = [o for o in (_read_object(item, i, read) for i, item in enumerate(raw_objects[:MAX_AFFECTED]))
               if o is not None]
    belongings = tuple((str(b.get("noun", "")).strip().lower(), str(b.get("why", "")).strip())
                       for b in (data.get("integral_belongings") or [])[:MAX_BELONGINGS]
                       if isinstance(b, dict) and str(b.get("noun", "")).strip())
    shapes: List[Shape] = []
    names: Dict[str, int] = {}
    for obj in objects:
        made = object_shapes(obj, grid, frames)
        if not made:
            read.warnings.append(f"{obj.noun}: the model gave no place for it; draw its region by hand")
        for shape in made:
            count = names.get(shape.name, 0)
            names[shape.name] = count + 1
            shapes.append(replace(shape, name=f"{shape.name} {count + 1}") if count else shape)
    confidence = data.get("confidence")
    confidence = float(confidence) if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) \
        else None
    return Proposal(shapes=tuple(shapes), scene_description=str(data.get("scene_description") or "").strip(),
                    objects=tuple(objects), integral_belongings=belongings, confidence=confidence, grid=grid,
                    frames=tuple(shown), model=model, warnings=tuple(read.warnings), raw=text)


def _read_object(item: Any, index: int, read: _Reader) -> Optional[AffectedObject]:
    if not isinstance(item, dict) or not str(item.get("noun", "")).strip():
        read.warnings.append(f"affected_objects[{index}] has no noun; dropped")
        return None
    noun = str(item["noun"]).strip().lower()
    category = str(item.get("category") or "physical").strip().lower()
    cells_by_frame: Dict[int, set] = {}
    for loc in item.get("grid_localizations") or []:
        if not isinstance(loc, dict):
            continue
        frame = read.frame(loc.get("frame"), noun)
        cells = [read.cell(r.get("row"), r.get("col"), noun) for r in loc.get("grid_regions") or []
                 if isinstance(r, dict)]
        if frame is not None:
            cells_by_frame.setdefault(frame, set()).update(c for c in cells if c is not None)
    trajectory: Dict[int, Tuple[int, int, int]] = {}  # by frame: one centre per keyframe
    for key in item.get("trajectory_path") or []:
        if not isinstance(key, dict):
            continue
        frame = read.frame(key.get("frame"), noun)
        cell = read.cell(key.get("grid_row"), key.get("grid_col"), noun)
        if frame is not None and cell is not None:
            trajectory[frame] = (frame, cell[0], cell[1])
    size = None
    raw_size = item.get("object_size_grids")
    if isinstance(raw_size, dict):
        rows, cols = read.integer(raw_size.get("rows")), read.integer(raw_size.get("cols"))
        if rows and cols and rows > 0 and cols > 0:
            size = (min(rows, read.grid.rows), min(cols, read.grid.cols))
    original = None
    raw_orig = item.get("original_position_grid")
    if isinstance(raw_orig, dict) and item.get("should_have_stayed"):
        original = read.cell(raw_orig.get("row"), raw_orig.get("col"), noun)
    first = item.get("first_appears_frame")
    return AffectedObject(
        noun=noun, category=category, why=str(item.get("why") or "").strip()[:300],
        will_move=bool(item.get("will_move", False)),
        first_frame=read.frame(first, noun) if first is not None else None,
        cells_by_frame=tuple((f, tuple(sorted(c))) for f, c in sorted(cells_by_frame.items()) if c),
        size=size, trajectory=tuple(trajectory[f] for f in sorted(trajectory)),
        original_cell=original)


def object_shapes(obj: AffectedObject, grid: Grid, frames: Sequence[int]) -> List[Shape]:
    """Editable affected rectangles: cells' bounding box per located frame, the trajectory, the rest spot.

    Between keys Roto interpolates; the shape lives from the object's first
    appearance (or its first key) to the end of the shot.
    """
    last = frames[-1]
    shapes = []
    if obj.cells_by_frame:
        keys = []
        for frame, cells in obj.cells_by_frame:
            rows = [r for r, _ in cells]
            cols = [c for _, c in cells]
            keys.append(_rect_key(frame, grid.box(min(rows), min(cols), max(rows) + 1, max(cols) + 1)))
        shapes.append(_shape(f"affected {obj.noun}", keys, obj.first_frame, last))
    if obj.trajectory:
        rows, cols = obj.size or (1, 1)
        keys = [_rect_key(f, grid.box(r + 0.5 - rows / 2, c + 0.5 - cols / 2, r + 0.5 + rows / 2,
                                      c + 0.5 + cols / 2)) for f, r, c in obj.trajectory]
        shapes.append(_shape(f"affected {obj.noun} path", keys, obj.first_frame, last))
    if obj.original_cell:
        r, c = obj.original_cell
        rows, cols = obj.size or (1, 1)
        box = grid.box(r + 0.5 - rows / 2, c + 0.5 - cols / 2, r + 0.5 + rows / 2, c + 0.5 + cols / 2)
        shapes.append(_shape(f"affected {obj.noun} at rest", [_rect_key(frames[0], box)], None, last))
    return shapes


def _rect_key(frame: int, box: Tuple[float, float, float, float]) -> ShapeKey:
    x0, y0, x1, y1 = box
    return ShapeKey(frame, tuple(ControlPoint.corner(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))))


def _shape(name: str, keys: List[ShapeKey], first: Optional[int], last: int) -> Shape:
    start = min([keys[0].frame] + ([first] if first is not None else []))
    return Shape(name=name, role="affected", keys=tuple(keys), lifetime=(start, max(last, start)))


# -- images --------------------------------------------------------------------------------

def tint(rgb: np.ndarray, mask: np.ndarray, strength: float = 0.4) -> np.ndarray:
    """Blend red over the masked pixels (VOID shows the object to remove this way)."""
    out = np.asarray(rgb, np.float32).copy()
    weight = np.clip(np.asarray(mask, np.float32), 0.0, 1.0)[:, :, None] * strength
    out = out * (1.0 - weight) + np.array([255.0, 0.0, 0.0], np.float32) * weight
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def annotate(rgb: np.ndarray, grid: Grid, label: str, max_side: int) -> np.ndarray:
    """Scale down to ``max_side``, draw the grid with row/column numbers, print ``label``."""
    import OpenImageIO as oiio

    buf = oiio.ImageBuf(np.ascontiguousarray(rgb, np.float32) / 255.0)
    scale = min(1.0, max_side / float(max(rgb.shape[:2])))
    if scale < 1.0:
        w, h = max(1, int(round(rgb.shape[1] * scale))), max(1, int(round(rgb.shape[0] * scale)))
        buf = oiio.ImageBufAlgo.resize(buf, roi=oiio.ROI(0, w, 0, h, 0, 1, 0, 3))
    pixels = np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(buf.spec().height, buf.spec().width, 3)
    h, w = pixels.shape[:2]
    thick = max(1, round(min(w, h) / 400))
    for col in range(1, grid.cols):
        x = int(round(col * w / grid.cols))
        pixels[:, max(0, x - thick // 2):x - thick // 2 + thick] = YELLOW
    for row in range(1, grid.rows):
        y = int(round(row * h / grid.rows))
        pixels[max(0, y - thick // 2):y - thick // 2 + thick, :] = YELLOW
    buf = oiio.ImageBuf(np.ascontiguousarray(pixels))
    size = max(10, int(min(w / grid.cols, h / grid.rows) * 0.35))
    for col in range(grid.cols):
        oiio.ImageBufAlgo.render_text(buf, int((col + 0.5) * w / grid.cols), size + 2, str(col), size,
                                      textcolor=YELLOW, alignx="center", shadow=1)
    for row in range(grid.rows):
        oiio.ImageBufAlgo.render_text(buf, 3, int((row + 0.5) * h / grid.rows + size / 2), str(row), size,
                                      textcolor=YELLOW, shadow=1)
    oiio.ImageBufAlgo.render_text(buf, w - 8, h - 8, label, max(12, int(size * 1.2)), textcolor=YELLOW,
                                  alignx="right", shadow=1)
    return to_uint8(np.asarray(buf.get_pixels(oiio.FLOAT), np.float32).reshape(h, w, 3))


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """uint8 RGB → JPEG bytes through OpenImageIO."""
    folder = tempfile.mkdtemp(prefix="void-assist-")
    path = os.path.join(folder, "frame.jpg")
    try:
        write_display_image(path, rgb, compression=f"jpeg:{quality}")
        with open(path, "rb") as fh:
            return fh.read()
    except ImageError as exc:
        raise VlmError(f"cannot encode a JPEG: {exc.message}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
