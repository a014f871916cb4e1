"""Path mapping: the same storage seen under different names by different machines.

An artist's workstation sees ``Z:\\shows\\abc\\sh010``, the farm sees
``/mnt/shows/abc/sh010``. A ``PathMap`` holds ordered rules (source prefix →
destination prefix); the first rule whose source is a whole-component prefix of
a path rewrites it.

Rules follow Open Job Description's own semantics (``openjd.sessions.PathMappingRule``,
which tests compare against): Windows sources match case-insensitively over ASCII
letters and with either slash, POSIX sources match exactly, ``..`` is never
collapsed, and a trailing separator on the path is kept. Two documented
differences: the result takes the *destination's* separators rather than this
machine's (a submitting machine writes paths for another machine's OS), and a
bare drive source such as ``Z:`` means the drive's root ``Z:\\`` (OpenJD would
only match drive-relative paths with it).

Rules load from the Open Job Description path-mapping format
(``{"version": "pathmapping-1.0", "path_mapping_rules": [...]}``, the file a
worker finds in ``Session.PathMappingRulesFile``) or from TOML/JSON/YAML tables::

    [[rules]]
    source = 'Z:\\shows'
    destination = "/mnt/shows"

At render time (``void-nuke run``, ``farm prepare``, ``farm publish``) the rules
come from ``--path-mapping-rules`` (a file, ``file://`` URI, inline JSON, or
``deadline`` for a Deadline 10 repository's Mapped Paths) or ``VOID_PATH_MAPPING_RULES``;
``localise_shot`` maps a shot's paths with them and refuses any path still
written for another operating system.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from string import ascii_lowercase, ascii_uppercase
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import VoidError

if TYPE_CHECKING:
    import argparse

    from .shot import Shot

OPENJD_VERSION = "pathmapping-1.0"
POSIX = "POSIX"
WINDOWS = "WINDOWS"
RULES_ENV = "VOID_PATH_MAPPING_RULES"
"""Render-time rules when no ``--path-mapping-rules`` is given (e.g. set per host OS on OpenCue)."""
DEADLINE = "deadline"
"""``--path-mapping-rules deadline``: ask the Deadline 10 repository's Mapped Paths."""
_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_ASCII_LOWER = str.maketrans(ascii_uppercase, ascii_lowercase)


class PathMapError(VoidError):
    """A path-mapping rule or rules file is invalid, or a path has no rule."""

    code = "path_map"


def path_format(path: str) -> str:
    """``WINDOWS`` for drive-letter, UNC or backslashed paths, else ``POSIX``."""
    if _DRIVE.match(path) or path.startswith("\\\\") or ("\\" in path and "/" not in path):
        return WINDOWS
    return POSIX


def is_windows_absolute(path: str) -> bool:
    """A drive-letter (``Z:\\a``, ``z:/a``) or UNC (``\\\\server\\share``) path."""
    return bool(_DRIVE.match(path)) or path.startswith("\\\\")


def is_foreign(path: str, windows_host: Optional[bool] = None) -> bool:
    """True when ``path`` is absolute for another operating system than this one.

    A Windows drive or UNC path on Linux or macOS, or a ``/rooted`` POSIX path on
    Windows: opening such a path here would read or create the wrong file, so it
    must be mapped first (or refused).
    """
    windows = os.name == "nt" if windows_host is None else windows_host
    if not path or _URI.match(path):
        return False
    if windows:
        return path.startswith("/") and not path.startswith("//")
    return is_windows_absolute(path)


def _ascii_fold(parts: Sequence[str]) -> List[str]:
    return [p.translate(_ASCII_LOWER) for p in parts]


def _pure(path: str, fmt: str) -> PurePath:
    return PureWindowsPath(path) if fmt == WINDOWS else PurePosixPath(path)


def _has_trailing_separator(path: str, fmt: str) -> bool:
    return path.endswith("/") or (fmt == WINDOWS and path.endswith("\\"))


@dataclass(frozen=True)
class PathRule:
    """Rewrite paths under ``source`` to the same place under ``destination``."""

    source: str
    destination: str
    source_format: str = ""
    """``POSIX`` or ``WINDOWS``; guessed from ``source`` when empty."""

    def __post_init__(self) -> None:
        if not self.source or not self.destination:
            raise PathMapError("a path-mapping rule needs both a source and a destination prefix")
        fmt = (self.source_format or path_format(self.source)).upper()
        if fmt not in (POSIX, WINDOWS):
            raise PathMapError(f"source_path_format {self.source_format!r} is not POSIX or WINDOWS "
                               "(URI rules are not supported)")
        if fmt == POSIX and not self.source.startswith("/"):
            raise PathMapError(f"POSIX source {self.source!r} must be absolute (start with '/')")
        if fmt == WINDOWS and not is_windows_absolute(self.source):
            raise PathMapError(f"Windows source {self.source!r} must start with a drive letter (Z:\\) "
                               "or a UNC share (\\\\server\\share)")
        if fmt == WINDOWS and re.fullmatch(r"[A-Za-z]:", self.source):
            object.__setattr__(self, "source", self.source + "\\")  # the drive's root, not drive-relative
        object.__setattr__(self, "source_format", fmt)

    @property
    def depth(self) -> int:
        """Number of components in the source: OpenJD tries deeper rules first."""
        return len(_pure(self.source, self.source_format).parts)

    def apply(self, path: str) -> Optional[str]:
        """The mapped path, or None when ``path`` is not under ``source``."""
        fmt = self.source_format
        if fmt == POSIX and path_format(path) == WINDOWS:
            return None
        src = _pure(self.source, fmt).parts
        parts = _pure(path, fmt).parts
        if len(parts) < len(src):
            return None
        if fmt == WINDOWS and _ascii_fold(parts[:len(src)]) != _ascii_fold(src):
            return None
        if fmt == POSIX and list(parts[:len(src)]) != list(src):
            return None
        dest_fmt = path_format(self.destination)
        mapped = str(_pure(self.destination, dest_fmt).joinpath(*parts[len(src):]))
        sep = "\\" if dest_fmt == WINDOWS else "/"
        if _has_trailing_separator(path, fmt) and not mapped.endswith(sep):
            mapped += sep
        return mapped

    def inverse(self) -> "PathRule":
        return PathRule(self.destination, self.source)

    def to_openjd(self) -> Dict[str, str]:
        return {"source_path_format": self.source_format, "source_path": self.source,
                "destination_path": self.destination}


class PathMap:
    """Ordered path-mapping rules; the first rule that matches wins."""

    def __init__(self, rules: Iterable[Any] = ()) -> None:
        self.rules: Tuple[PathRule, ...] = tuple(
            r if isinstance(r, PathRule) else PathRule(str(r[0]), str(r[1])) for r in rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        pairs = ", ".join(f"{r.source!r} -> {r.destination!r}" for r in self.rules)
        return f"PathMap([{pairs}])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathMap) and other.rules == self.rules

    def map(self, path: str, strict: bool = False) -> str:
        """Rewrite ``path`` with the first matching rule.

        Unmatched paths come back unchanged, unless ``strict``: then an unmatched
        Windows path (which no POSIX farm machine could open) raises.
        """
        if not path or _URI.match(path):
            return path
        for rule in self.rules:
            mapped = rule.apply(path)
            if mapped is not None:
                return mapped
        if strict and path_format(path) == WINDOWS:
            raise PathMapError(f"no path-mapping rule covers {path!r}; add a rule mapping its drive or "
                               "share to the farm's mount (--path-map rules.toml)")
        return path

    def map_all(self, paths: Sequence[str]) -> List[str]:
        """``map`` over many paths (the interface ``localise_shot`` shares with Deadline's mapping)."""
        return [self.map(p) for p in paths]

    def inverse(self) -> "PathMap":
        """Rules from destination back to source (e.g. server paths back to the client's)."""
        return PathMap(r.inverse() for r in self.rules)

    def pairs(self) -> List[Tuple[str, str]]:
        return [(r.source, r.destination) for r in self.rules]

    # -- files ----------------------------------------------------------------------------

    def to_openjd(self) -> Dict[str, Any]:
        """The rules in Open Job Description's ``pathmapping-1.0`` format."""
        return {"version": OPENJD_VERSION, "path_mapping_rules": [r.to_openjd() for r in self.rules]}

    @classmethod
    def from_openjd(cls, data: Dict[str, Any]) -> "PathMap":
        """Read OpenJD's format; its rules apply deepest source first, as OpenJD does."""
        if data.get("version") != OPENJD_VERSION:
            raise PathMapError(f"path-mapping version {data.get('version')!r} is not {OPENJD_VERSION!r}")
        rules = _parse_rules(data.get("path_mapping_rules"), "path_mapping_rules",
                             ("source_path", "destination_path", "source_path_format"))
        return cls(sorted(rules, key=lambda r: -r.depth))

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "PathMap":
        """Read ``{"rules": [{source, destination[, format]}]}`` or the OpenJD format.

        An empty table is no rules: it is what an OpenJD session without rules writes to
        ``Session.PathMappingRulesFile``.
        """
        if "path_mapping_rules" in data or "version" in data:
            return cls.from_openjd(data)
        return cls(_parse_rules(data.get("rules", []), "rules", ("source", "destination", "format")))

    @classmethod
    def load(cls, path: str) -> "PathMap":
        """Read rules from a ``.json`` (OpenJD or plain), ``.toml`` or ``.yaml`` file."""
        from .shot import load_table
        try:
            data = load_table(path)
        except VoidError as exc:
            raise PathMapError(f"cannot read path-mapping rules: {exc.message}") from None
        try:
            return cls.from_dict(data)
        except PathMapError as exc:
            raise PathMapError(f"{path}: {exc.message}") from None

    def save_openjd(self, path: str) -> None:
        from .atomic import atomic_write_bytes
        text = json.dumps(self.to_openjd(), indent=2) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"), overwrite=True)


def _parse_rules(rules: Any, where: str, keys: Tuple[str, str, str]) -> List[PathRule]:
    """Rules from a list of tables whose keys are (source, destination, optional format)."""
    source, destination, fmt = keys
    if not isinstance(rules, list):
        raise PathMapError(f"{where} must be a list of {{{source}, {destination}}} tables")
    parsed = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or not {source, destination} <= set(rule):
            raise PathMapError(f"{where}[{i}] needs {source} and {destination}")
        parsed.append(PathRule(str(rule[source]), str(rule[destination]), str(rule.get(fmt, ""))))
    return parsed


def load_path_map(path: Optional[str]) -> PathMap:
    """Rules from ``path``, or no rules when ``path`` is empty."""
    if not path:
        return PathMap()
    if not os.path.isfile(path):
        raise PathMapError(f"path-mapping file {path} does not exist")
    return PathMap.load(path)


# -- render time ----------------------------------------------------------------------------

class DeadlineMappedPaths:
    """A Deadline 10 repository's Mapped Paths, asked of ``deadlinecommand`` on the worker.

    Uses ``deadlinecommand -CheckPathMappingForMultiplePaths <paths...>``, which prints
    one mapped path per line in the order given (unmatched paths come back unchanged).
    ``DEADLINE_PATH`` (set on Deadline workers) names the folder of ``deadlinecommand``.
    """

    def __init__(self, command: Optional[str] = None) -> None:
        self.command = command or _deadline_command()

    def map_all(self, paths: Sequence[str]) -> List[str]:
        if not paths:
            return []
        try:
            proc = subprocess.run([self.command, "-CheckPathMappingForMultiplePaths", *paths],
                                  capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PathMapError(f"cannot ask Deadline for its mapped paths ({self.command}: {exc}); run on a "
                               "Deadline worker, or give a rules file with --path-mapping-rules") from None
        lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or len(lines) != len(paths):
            raise PathMapError(f"{self.command} -CheckPathMappingForMultiplePaths failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[:400]}")
        return lines

    def map(self, path: str, strict: bool = False) -> str:
        return self.map_all([path])[0]


def _deadline_command() -> str:
    folder = os.environ.get("DEADLINE_PATH")
    if folder:
        for name in ("deadlinecommand", "deadlinecommand.exe"):
            if os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name)
    return shutil.which("deadlinecommand") or "deadlinecommand"


def load_rules(source: Optional[str], environ: Optional[Dict[str, str]] = None) -> Any:
    """Render-time rules from ``--path-mapping-rules`` (or ``VOID_PATH_MAPPING_RULES``).

    ``source`` is a rules file (OpenJD ``pathmapping-1.0`` JSON, or TOML/YAML ``[[rules]]``),
    the same as a ``file://`` URI (how OpenJD templates pass ``Session.PathMappingRulesFile``),
    inline JSON, or ``deadline`` for the Deadline repository's Mapped Paths. Empty: no rules.
    Returns an object with ``map_all(paths)``.
    """
    env = os.environ if environ is None else environ
    value = (source if source is not None else env.get(RULES_ENV, "")).strip()
    if not value:
        return PathMap()
    if value.lower() == DEADLINE:
        return DeadlineMappedPaths()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise PathMapError(f"--path-mapping-rules is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise PathMapError("--path-mapping-rules JSON must be a table of rules")
        return PathMap.from_dict(data)
    if value.startswith("file://"):
        value = value[len("file://"):]
    return load_path_map(value)


def add_rules_argument(parser: "argparse.ArgumentParser") -> None:
    """``--path-mapping-rules``, for the commands a farm task runs."""
    parser.add_argument("--path-mapping-rules", metavar="RULES",
                        help="map the shot's paths for this machine when the task runs: a rules file (OpenJD "
                             "pathmapping-1.0 JSON, TOML/YAML [[rules]]), file://FILE, inline JSON, or 'deadline' "
                             f"for the Deadline repository's Mapped Paths (default: {RULES_ENV})")


def localise_shot(shot: "Shot", rules: Any) -> "Shot":
    """``shot`` with every path mapped by ``rules`` for this machine; refuse foreign paths.

    A path still absolute for another operating system after mapping (``Z:\\shows`` on
    Linux) would be opened or created literally; it is refused, naming the field and
    what to do.
    """
    paths = _shot_paths(shot)
    mapped = dict(zip(paths, rules.map_all(paths)))
    local = shot.with_paths(lambda p: mapped.get(p, p))
    check_native(local)
    return local


def check_native(shot: "Shot") -> None:
    """Raise ``PathMapError`` when a path of ``shot`` is written for another operating system."""
    for what, path in _shot_fields(shot):
        if is_foreign(path):
            system = "Windows" if os.name == "nt" else "this machine's operating system"
            raise PathMapError(
                f"{what} {path!r} is a path for another operating system than {system}, and no "
                "path-mapping rule covers it; give rules mapping it to this machine's mount "
                f"(--path-mapping-rules FILE or {RULES_ENV}), or write the shot with paths this machine "
                "can open", detail={"field": what, "path": path})


def _shot_fields(shot: "Shot") -> List[Tuple[str, str]]:
    found = [(role, seq.pattern) for role, seq in shot.inputs()]
    found.append(("output", shot.output.directory))
    if shot.ocio_config and not shot.ocio_config.startswith("ocio://"):
        found.append(("ocio_config", shot.ocio_config))
    return found


def _shot_paths(shot: "Shot") -> List[str]:
    return sorted({path for _, path in _shot_fields(shot) if path})
