"""The description of one shot to process: what to remove, from which frames, how.

A ``Shot`` is plain, immutable data. It validates on construction (errors name
the field), and round-trips through ``to_dict``/``from_dict`` (msgpack-safe),
TOML, JSON and YAML files. Relative paths in a shot file are resolved against
the file's folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import ShotError, shorten as _shorten
from .limits import (MAX_ENGINE_OPTIONS, MAX_JOB_FRAMES, MAX_LABEL_CHARS, MAX_MATTES, MAX_NAME_CHARS,
                     MAX_PATH_CHARS, MAX_SHAPE_POINTS, MAX_SHAPES, MAX_TEXT_CHARS)
from .pathmap import is_windows_absolute
from .plugins import engine_entry_points
from .sequences import FrameRange, SequencePattern
from .shapes import Prompts, Shape

ENGINES = ("classic", "void")
ROI_MODES = ("auto", "roi", "full")
TRANSFERS = ("pixels", "paths")
COMPRESSIONS = ("none", "zip", "zips", "piz", "rle", "pxr24", "b44", "b44a", "dwaa", "dwab")
DEFAULT_COLORSPACE = "Linear Rec.709 (sRGB)"
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_NAME_FORBIDDEN = re.compile(r"[/\\:\x00-\x1f\x7f]")


def check_job_id(job_id: str) -> str:
    """Job ids name folders on the server: letters, digits, ``._-``, at most 64 (the whole id)."""
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ShotError("job_id", f"{_shorten(job_id)} is not a valid job id: use 1-64 letters, digits, "
                                  "'.', '_' or '-', starting with a letter or digit")
    return job_id


def check_output_name(name: str, where: str = "output.name") -> str:
    """An output name is a plain file name: results are ``<name>.<frame>.exr`` inside the version folder.

    No separator of either operating system (``/``, ``\\``, a drive's ``:``), no ``..``, no leading
    dot (hidden files), no control characters, at most ``MAX_NAME_CHARS``. Client and server both check
    it, so no name can place a file outside the folder it belongs in.
    """
    if not isinstance(name, str) or not name:
        raise ShotError(where, "must be a non-empty file name")
    if len(name) > MAX_NAME_CHARS:
        raise ShotError(where, f"is {len(name)} characters long; the limit is {MAX_NAME_CHARS}")
    bad = _NAME_FORBIDDEN.search(name)
    if bad or ".." in name or name.startswith(".") or name != name.strip():
        what = f"the character {bad.group()!r}" if bad else "'..', a leading dot or surrounding spaces"
        raise ShotError(where, f"{_shorten(name)} is not a plain file name ({what}); give a name such as "
                               "sh010_clean: results go to <output folder>/vNNN/<name>.<frame>.exr")
    return name


def default_output_name(plate_basename: str) -> str:
    """The output name taken from the plate's file name, made a plain file name.

    The plate may be a path of another operating system (a Windows client's ``Z:\\plates\\sh010.####.exr``
    seen by a Linux server), so everything up to the last separator of either kind is dropped.
    """
    name = re.split(r"[\\/]", plate_basename)[-1]
    name = _NAME_FORBIDDEN.sub("_", name).replace("..", "_").lstrip(".").strip()[:MAX_NAME_CHARS]
    return name.rstrip("._-") or "frames"


def new_job_id(shot: Shot) -> str:
    """A fresh job id: the shot name plus a random suffix."""
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in shot.name)[:48] or "job"
    return f"{base}-{uuid.uuid4().hex[:8]}"


def _get(data: Dict[str, Any], key: str, kind: Any, default: Any, where: str,
         max_chars: int = MAX_LABEL_CHARS) -> Any:
    """``data[key]`` checked to be of ``kind`` (strings also no longer than ``max_chars``)."""
    value = data.get(key, default)
    if value is None:
        return default
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, bool):
        raise ShotError(f"{where}{key}", f"must be a whole number, got {value!r}")
    if not isinstance(value, kind):
        name = getattr(kind, "__name__", str(kind))
        raise ShotError(f"{where}{key}", f"must be {name}, got {_shorten(value)}")
    if isinstance(value, str) and len(value) > max_chars:
        raise ShotError(f"{where}{key}", f"is {len(value)} characters long; the limit is {max_chars}")
    return value


def _path(value: Any, where: str) -> str:
    """A path a client sent: a string of at most ``MAX_PATH_CHARS`` without NUL characters."""
    if not isinstance(value, str) or not value:
        raise ShotError(where, f"must be a path, got {_shorten(value)}")
    if len(value) > MAX_PATH_CHARS:
        raise ShotError(where, f"is {len(value)} characters long; the limit is {MAX_PATH_CHARS}")
    if "\x00" in value:
        raise ShotError(where, "contains a NUL character")
    return value


def _resolve(path: Optional[str], base_dir: Optional[str]) -> Optional[str]:
    """``path`` read against ``base_dir`` unless absolute, on this or another OS (``Z:\\``, UNC)."""
    if path is None or base_dir is None or os.path.isabs(path) or is_windows_absolute(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _resolve_config(config: Optional[str], base_dir: Optional[str]) -> Optional[str]:
    """An OCIO config file is read against the shot file's folder like other paths; ``ocio://`` URIs stay."""
    return config if not config or "://" in config else _resolve(config, base_dir)


_VIEW = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def check_view_fields(pixel_aspect: float, view: str) -> None:
    """A pixel aspect is a finite ratio in (0, 10]; a view is a Nuke view name or empty."""
    if isinstance(pixel_aspect, bool) or not isinstance(pixel_aspect, (int, float)) \
            or not 0.0 < pixel_aspect <= 10.0:
        raise ShotError("pixel_aspect", f"must be a number in (0, 10] (1 for square pixels, 2 for "
                                        f"anamorphic), got {pixel_aspect!r}")
    if not isinstance(view, str) or (view and not _VIEW.match(view)):
        raise ShotError("view", f"{view!r} is not a view name: use letters, digits, '_', '.' or '-', as "
                                "Nuke names views (left, right, main)")


@dataclass(frozen=True)
class MatteSource:
    """A matte: an image sequence, or a channel of the plate when ``pattern`` is None.

    The matte value is read from ``channel``; by default the alpha channel, or
    the only channel of a one-channel image.
    """

    pattern: Optional[str] = None
    channel: Optional[str] = None
    invert: bool = False

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"invert": self.invert}
        if self.pattern is not None:
            data["pattern"] = self.pattern
        if self.channel is not None:
            data["channel"] = self.channel
        return data

    @classmethod
    def from_value(cls, value: Any, where: str, base_dir: Optional[str] = None) -> "MatteSource":
        if isinstance(value, str):
            value = {"pattern": value}
        if not isinstance(value, dict):
            raise ShotError(where, "a matte is a sequence pattern or a table with pattern/channel")
        pattern = value.get("pattern")
        channel = _get(value, "channel", str, None, f"{where}.")
        if pattern is None and channel is None:
            raise ShotError(where, "give a sequence pattern, or the plate channel holding the matte")
        if pattern is not None:
            SequencePattern(_path(pattern, f"{where}.pattern"))  # validates the frame-number token
        return cls(_resolve(pattern, base_dir), channel, _get(value, "invert", bool, False, f"{where}."))


@dataclass(frozen=True)
class EngineSettings:
    """Which engine runs and how. ``options`` holds engine-specific scalars."""

    name: str = "classic"
    steps: int = 50
    seed: int = 42
    guidance: float = 1.0
    passes: int = 1
    roi: str = "auto"
    options: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ENGINES and self.name not in engine_entry_points():
            raise ShotError("engine.name", f"unknown engine {self.name!r}; choose one of "
                                           f"{', '.join(ENGINES + tuple(sorted(engine_entry_points())))}")
        if not 1 <= self.steps <= 1000:
            raise ShotError("engine.steps", f"must be between 1 and 1000, got {self.steps}")
        if not 0 <= self.seed < 2 ** 63:
            raise ShotError("engine.seed", f"must be between 0 and 2**63-1, got {self.seed}")
        if not 0.0 < self.guidance <= 30.0:
            raise ShotError("engine.guidance", f"must be in (0, 30], got {self.guidance}")
        if self.passes not in (1, 2):
            raise ShotError("engine.passes", f"must be 1 or 2, got {self.passes}")
        if self.roi not in ROI_MODES:
            raise ShotError("engine.roi", f"must be one of {', '.join(ROI_MODES)}, got {self.roi!r}")
        if len(self.options) > MAX_ENGINE_OPTIONS:
            raise ShotError("engine.options", f"{len(self.options)} options; the limit is {MAX_ENGINE_OPTIONS}")
        for key, value in self.options.items():
            if not isinstance(key, str) or len(key) > MAX_LABEL_CHARS:
                raise ShotError("engine.options", f"option names are short strings, got {_shorten(key)}")
            if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str)
                                                                    and len(value) > MAX_PATH_CHARS):
                raise ShotError(f"engine.options.{key}", "options must be strings, numbers or booleans")

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "steps": self.steps, "seed": self.seed, "guidance": self.guidance,
                "passes": self.passes, "roi": self.roi, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Any) -> "EngineSettings":
        if data is None:
            return cls()
        if isinstance(data, str):
            return cls(name=data)
        if not isinstance(data, dict):
            raise ShotError("engine", "must be an engine name or a table of engine settings")
        w = "engine."
        return cls(name=_get(data, "name", str, "classic", w), steps=_get(data, "steps", int, 50, w),
                   seed=_get(data, "seed", int, 42, w), guidance=_get(data, "guidance", float, 1.0, w),
                   passes=_get(data, "passes", int, 1, w), roi=_get(data, "roi", str, "auto", w),
                   options=dict(_get(data, "options", dict, {}, w)))


@dataclass(frozen=True)
class MaskSettings:
    """How mattes become a quadmask and how the result is blended back."""

    threshold: float = 0.5
    """A matte value above this is inside the region."""
    dilate_remove: int = 0
    """Grow the remove region by this many pixels (plate resolution)."""
    feather: float = 8.0
    """Width in pixels of the blend ramp outside the edit region; beyond it, plate pixels."""
    clear_affected_first_frame: bool = True
    """VOID's convention: the first frame carries no affected (127) region."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ShotError("masks.threshold", f"must be in [0, 1), got {self.threshold}")
        if not 0 <= self.dilate_remove <= 512:
            raise ShotError("masks.dilate_remove", f"must be 0-512 pixels, got {self.dilate_remove}")
        if not 0.0 <= self.feather <= 512.0:
            raise ShotError("masks.feather", f"must be 0-512 pixels, got {self.feather}")

    def to_dict(self) -> Dict[str, Any]:
        return {"threshold": self.threshold, "dilate_remove": self.dilate_remove,
                "feather": self.feather, "clear_affected_first_frame": self.clear_affected_first_frame}

    @classmethod
    def from_dict(cls, data: Any) -> "MaskSettings":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ShotError("masks", "must be a table of mask settings")
        w = "masks."
        return cls(threshold=_get(data, "threshold", float, 0.5, w),
                   dilate_remove=_get(data, "dilate_remove", int, 0, w),
                   feather=_get(data, "feather", float, 8.0, w),
                   clear_affected_first_frame=_get(data, "clear_affected_first_frame", bool, True, w))


@dataclass(frozen=True)
class OutputSettings:
    """Where results go: ``directory/vNNN/<name>.####.exr``."""

    directory: str
    name: Optional[str] = None
    compression: str = "zip"
    mask_layer: bool = False
    """Also write the quadmask as a ``void.mask`` layer, for QC."""
    grain: bool = True
    """Add grain measured from the plate to the fill, and deliver the fill without it as ``fill.R/G/B``."""

    def __post_init__(self) -> None:
        if not self.directory:
            raise ShotError("output.directory", "is required: the folder that receives v001, v002, ...")
        _path(self.directory, "output.directory")
        if self.name is not None:
            check_output_name(self.name)
        base = self.compression.split(":")[0]
        if base not in COMPRESSIONS:
            raise ShotError("output.compression", f"unknown EXR compression {self.compression!r}; "
                                                  f"choose one of {', '.join(COMPRESSIONS)}")

    def to_dict(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"directory": self.directory, "compression": self.compression,
                                "mask_layer": self.mask_layer, "grain": self.grain}
        if self.name:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: Any, base_dir: Optional[str] = None) -> "OutputSettings":
        if isinstance(data, str):
            data = {"directory": data}
        if not isinstance(data, dict):
            raise ShotError("output", "must be a folder or a table with directory")
        w = "output."
        directory = _get(data, "directory", str, "", w, MAX_PATH_CHARS)
        return cls(directory=_resolve(directory, base_dir) if directory else "",
                   name=_get(data, "name", str, None, w, MAX_NAME_CHARS),
                   compression=_get(data, "compression", str, "zip", w),
                   mask_layer=_get(data, "mask_layer", bool, False, w),
                   grain=_get(data, "grain", bool, True, w))


@dataclass(frozen=True)
class Shot:
    """One shot: the plate, what to remove, and how to run and deliver it."""

    plate: str
    frames: FrameRange
    output: OutputSettings
    name: str = ""
    handles: Tuple[int, int] = (0, 0)
    remove: Tuple[MatteSource, ...] = ()
    affected: Tuple[MatteSource, ...] = ()
    shapes: Tuple[Shape, ...] = ()
    prompts: Prompts = field(default_factory=Prompts)
    prompt: str = ""
    """The scene after removal, e.g. "A wooden table with a cup on it."."""
    colorspace: str = DEFAULT_COLORSPACE
    """OCIO colour space of the plate's pixels (scene-linear)."""
    ocio_config: Optional[str] = None
    """OCIO config path or ``ocio://`` URI; None means the server's default."""
    pixel_aspect: float = 1.0
    """Width of a plate pixel over its height (2.0 for anamorphic); the frames are not resampled."""
    view: str = ""
    """The stereo view the plate is (``left``); empty for a single-view shot."""
    engine: EngineSettings = field(default_factory=EngineSettings)
    masks: MaskSettings = field(default_factory=MaskSettings)

    def __post_init__(self) -> None:
        _path(self.plate, "plate")
        self.plate_sequence  # validates the pattern
        if not self.name:
            object.__setattr__(self, "name", default_output_name(self.plate_sequence.basename))
        if any(h < 0 for h in self.handles):
            raise ShotError("handles", f"must not be negative, got {list(self.handles)}")
        if self.frames.first - self.handles[0] < 0:
            raise ShotError("handles", "the head handle reaches before frame 0")
        count = len(self.frames) + self.handles[0] + self.handles[1]
        if count > MAX_JOB_FRAMES:
            raise ShotError("handles" if any(self.handles) else "frames",
                            f"{self.frames} with handles {list(self.handles)} is {count} frames; one job "
                            f"processes at most {MAX_JOB_FRAMES}: split the shot")
        self._check_sizes()
        names = [s.name for s in self.shapes]
        if len(set(names)) != len(names):
            raise ShotError("shapes", "shape names must be unique")
        unknown = set(self.prompts.mask_shapes) - set(names)
        if unknown:
            raise ShotError("prompts.mask_shapes", f"no shape named {', '.join(sorted(unknown))}")
        if not (self.remove or any(s.role == "remove" for s in self.shapes) or self.prompts):
            raise ShotError("remove", "nothing to remove: give a remove matte, a Roto shape with role "
                                      "'remove', or clicked points for SAM2")
        check_view_fields(self.pixel_aspect, self.view)
        bad = [f for f in self.prompts.frames if f not in self.process_frames]
        if bad:
            raise ShotError("prompts", f"clicked frames {bad} are outside the frame range {self.process_frames}")

    def _check_sizes(self) -> None:
        """Every list and string within the documented limits (``void_nuke.limits``)."""
        for key, text, limit in (("name", self.name, MAX_LABEL_CHARS), ("prompt", self.prompt, MAX_TEXT_CHARS),
                                 ("colorspace", self.colorspace, MAX_LABEL_CHARS),
                                 ("ocio_config", self.ocio_config or "", MAX_PATH_CHARS)):
            if len(text) > limit:
                raise ShotError(key, f"is {len(text)} characters long; the limit is {limit}")
        for key, mattes in (("remove", self.remove), ("affected", self.affected)):
            if len(mattes) > MAX_MATTES:
                raise ShotError(key, f"{len(mattes)} mattes; the limit is {MAX_MATTES}")
        if len(self.shapes) > MAX_SHAPES:
            raise ShotError("shapes", f"{len(self.shapes)} shapes; the limit is {MAX_SHAPES}")
        points = sum(len(k.points) for s in self.shapes for k in s.keys)
        if points > MAX_SHAPE_POINTS:
            raise ShotError("shapes", f"{points} control points over all shapes and keys; the limit is "
                                      f"{MAX_SHAPE_POINTS}")

    # -- derived ---------------------------------------------------------------------------

    @cached_property
    def plate_sequence(self) -> SequencePattern:
        """The plate's pattern, parsed once (result names are derived from it for every frame)."""
        try:
            return SequencePattern(self.plate)
        except ShotError as exc:
            raise ShotError("plate", exc.message.split(": ", 1)[-1]) from None

    @property
    def process_frames(self) -> FrameRange:
        """The frames processed and delivered: the range plus its handles."""
        return self.frames.extended(*self.handles)

    @property
    def output_name(self) -> str:
        """The file name results carry: ``output.name``, else the plate's own name."""
        return self.output.name or default_output_name(self.plate_sequence.basename)

    @property
    def result_padding(self) -> int:
        """Digits of result frame numbers: the plate's own, at least 4."""
        return max(4, self.plate_sequence.padding)

    def result_name(self, frame: int) -> str:
        """The file name of a result frame: ``<output name>.<frame>.exr``."""
        return f"{self.output_name}.{frame:0{self.result_padding}d}.exr"

    def fingerprint(self) -> str:
        """SHA-256 of the canonical description; equal shots give equal fingerprints."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_changes(self, **changes: Any) -> "Shot":
        return replace(self, **changes)

    def inputs(self) -> List[Tuple[str, SequencePattern]]:
        """The image sequences this shot reads, by role: ``plate``, ``remove/0``, ``affected/0``..."""
        found = [("plate", self.plate_sequence)]
        for key, mattes in (("remove", self.remove), ("affected", self.affected)):
            for i, matte in enumerate(mattes):
                if matte.pattern is not None:
                    found.append((f"{key}/{i}", SequencePattern(matte.pattern)))
        return found

    def with_inputs(self, patterns: Dict[str, str]) -> "Shot":
        """A copy reading each role's frames from ``patterns[role]`` (roles from ``inputs``)."""
        def moved(key: str, mattes: Tuple[MatteSource, ...]) -> Tuple[MatteSource, ...]:
            return tuple(replace(m, pattern=patterns.get(f"{key}/{i}", m.pattern)) if m.pattern else m
                         for i, m in enumerate(mattes))
        return replace(self, plate=patterns.get("plate", self.plate),
                       remove=moved("remove", self.remove), affected=moved("affected", self.affected))

    def with_paths(self, mapper: Callable[[str], str]) -> "Shot":
        """A copy with every file path (inputs and output folder) passed through ``mapper``."""
        mapped = self.with_inputs({role: mapper(seq.pattern) for role, seq in self.inputs()})
        output = replace(self.output, directory=mapper(self.output.directory))
        config = mapper(self.ocio_config) if self.ocio_config and not self.ocio_config.startswith("ocio://") \
            else self.ocio_config
        return replace(mapped, output=output, ocio_config=config)

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (no None values, so it also fits TOML)."""
        data: Dict[str, Any] = {
            "name": self.name, "plate": self.plate, "frames": str(self.frames),
            "handles": list(self.handles), "prompt": self.prompt, "colorspace": self.colorspace,
            "engine": self.engine.to_dict(), "masks": self.masks.to_dict(),
            "output": self.output.to_dict(),
            "remove": [m.to_dict() for m in self.remove],
            "affected": [m.to_dict() for m in self.affected],
            "shapes": [s.to_dict() for s in self.shapes],
            "prompts": self.prompts.to_dict(),
        }
        if self.ocio_config:
            data["ocio_config"] = self.ocio_config
        if self.pixel_aspect != 1.0:
            data["pixel_aspect"] = self.pixel_aspect
        if self.view:
            data["view"] = self.view
        return data

    @classmethod
    def from_dict(cls, data: Any, base_dir: Optional[str] = None) -> "Shot":
        if not isinstance(data, dict):
            raise ShotError("shot", "a shot is a table of fields")
        known = {"name", "plate", "frames", "handles", "prompt", "colorspace", "ocio_config", "pixel_aspect", "view",
                 "engine",
                 "masks", "output", "remove", "affected", "shapes", "prompts"}
        extra = sorted(set(data) - known)
        if extra:
            raise ShotError(extra[0], f"unknown field; known fields are {', '.join(sorted(known))}")
        plate = data.get("plate")
        if not isinstance(plate, str) or not plate:
            raise ShotError("plate", "is required: the plate sequence, e.g. /plates/sh010.####.exr")
        _path(plate, "plate")
        frames = data.get("frames")
        if frames is None:
            raise ShotError("frames", "is required, e.g. 1001-1024")
        if not isinstance(frames, (str, int)) or isinstance(frames, bool):
            raise ShotError("frames", f"must be a frame range such as 1001-1024, got {_shorten(frames)}")
        handles = data.get("handles", [0, 0])
        if isinstance(handles, int) and not isinstance(handles, bool):
            handles = [handles, handles]
        if not (isinstance(handles, (list, tuple)) and len(handles) == 2
                and all(isinstance(h, int) and not isinstance(h, bool) for h in handles)):
            raise ShotError("handles", "must be a number of frames or [head, tail]")
        if "output" not in data:
            raise ShotError("output", "is required: the folder that receives v001, v002, ...")

        def mattes(key: str) -> Tuple[MatteSource, ...]:
            value = data.get(key) or []
            if isinstance(value, (str, dict)):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise ShotError(key, "must be a matte or a list of mattes")
            if len(value) > MAX_MATTES:
                raise ShotError(key, f"{len(value)} mattes; the limit is {MAX_MATTES}")
            return tuple(MatteSource.from_value(v, f"{key}[{i}]", base_dir) for i, v in enumerate(value))

        shapes = data.get("shapes") or []
        if not isinstance(shapes, (list, tuple)):
            raise ShotError("shapes", "must be a list of shapes")
        _count_points(shapes)
        return cls(
            plate=_resolve(plate, base_dir) or plate,
            frames=FrameRange.parse(str(frames)),
            output=OutputSettings.from_dict(data["output"], base_dir),
            name=_get(data, "name", str, "", ""),
            handles=(int(handles[0]), int(handles[1])),
            remove=mattes("remove"), affected=mattes("affected"),
            shapes=tuple(Shape.from_dict(s, i) for i, s in enumerate(shapes)),
            prompts=Prompts.from_dict(data.get("prompts")),
            prompt=_get(data, "prompt", str, "", "", MAX_TEXT_CHARS),
            colorspace=_get(data, "colorspace", str, DEFAULT_COLORSPACE, ""),
            ocio_config=_resolve_config(_get(data, "ocio_config", str, None, "", MAX_PATH_CHARS), base_dir),
            pixel_aspect=_get(data, "pixel_aspect", float, 1.0, ""),
            view=_get(data, "view", str, "", ""),
            engine=EngineSettings.from_dict(data.get("engine")),
            masks=MaskSettings.from_dict(data.get("masks")),
        )

    # -- files -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str) -> "Shot":
        """Read a shot from a ``.toml``, ``.json`` or ``.yaml`` file."""
        data = load_table(path)
        return cls.from_dict(data, base_dir=os.path.dirname(os.path.abspath(path)))

    def save(self, path: str) -> None:
        """Write the shot atomically as TOML, JSON or YAML (by extension)."""
        save_table(path, self.to_dict())


def _count_points(shapes: List[Any]) -> None:
    """Refuse too many shapes or control points before parsing any (parsing is the costly part)."""
    if len(shapes) > MAX_SHAPES:
        raise ShotError("shapes", f"{len(shapes)} shapes; the limit is {MAX_SHAPES}")
    points = 0
    for shape in shapes:
        keys = shape.get("keys") if isinstance(shape, dict) else None
        if isinstance(keys, (list, tuple)):
            if len(keys) > MAX_JOB_FRAMES:
                raise ShotError("shapes", f"a shape has {len(keys)} keys; the limit is {MAX_JOB_FRAMES}")
            points += sum(len(k["points"]) for k in keys
                          if isinstance(k, dict) and isinstance(k.get("points"), (list, tuple)))
    if points > MAX_SHAPE_POINTS:
        raise ShotError("shapes", f"{points} control points over all shapes and keys; the limit is "
                                  f"{MAX_SHAPE_POINTS}")


def load_table(path: str) -> Dict[str, Any]:
    """Load a TOML, JSON or YAML file into a dict, with errors that name the file."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ShotError("file", f"cannot read {path}: {exc.strerror}") from None
    try:
        if ext == ".toml":
            try:
                import tomllib  # type: ignore[import-not-found]
            except ImportError:  # Python < 3.11
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(raw.decode("utf-8"))
        elif ext == ".json":
            data = json.loads(raw.decode("utf-8"))
        elif ext in (".yaml", ".yml"):
            import yaml
            data = yaml.safe_load(raw.decode("utf-8"))
        else:
            raise ShotError("file", f"{path}: use a .toml, .json or .yaml file")
    except ShotError:
        raise
    except Exception as exc:  # every parser has its own error class
        raise ShotError("file", f"{path} is not valid {ext[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ShotError("file", f"{path} must hold a table of fields at the top level")
    return data


def save_table(path: str, data: Dict[str, Any]) -> None:
    """Write a dict as TOML, JSON or YAML (by extension), atomically."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        import tomli_w
        text = tomli_w.dumps(data)
    elif ext == ".json":
        text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    elif ext in (".yaml", ".yml"):
        import yaml
        text = yaml.safe_dump(data, sort_keys=False)
    else:
        raise ShotError("file", f"{path}: use a .toml, .json or .yaml file")
    from .atomic import atomic_write_bytes
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=True)
