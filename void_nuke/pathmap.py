"""Path mapping: the same storage seen under different names by different machines.

An artist's workstation sees ``Z:\\shows\\abc\\sh010``, the farm sees
``/mnt/shows/abc/sh010``. A ``PathMap`` holds ordered rules (source prefix →
destination prefix); the first rule whose source is a whole-component prefix of
a path rewrites it. Windows sources match case-insensitively and with either
slash; the result takes the destination's own separators, so Windows drive
letters and backslashes become POSIX paths when the destination is POSIX.

Rules load from the Open Job Description path-mapping format
(``{"version": "pathmapping-1.0", "path_mapping_rules": [...]}``, the file a
worker finds in ``Session.PathMappingRulesFile``) or from TOML/JSON/YAML tables::

    [[rules]]
    source = 'Z:\\shows'
    destination = "/mnt/shows"
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import VoidError

OPENJD_VERSION = "pathmapping-1.0"
POSIX = "POSIX"
WINDOWS = "WINDOWS"
_DRIVE = re.compile(r"^[A-Za-z]:([\\/]|$)")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class PathMapError(VoidError):
    """A path-mapping rule or rules file is invalid, or a path has no rule."""

    code = "path_map"


def path_format(path: str) -> str:
    """``WINDOWS`` for drive-letter, UNC or backslashed paths, else ``POSIX``."""
    if _DRIVE.match(path) or path.startswith("\\\\") or ("\\" in path and "/" not in path):
        return WINDOWS
    return POSIX


def _components(path: str, fmt: str) -> List[str]:
    """Split a path into comparable components; a leading root is its own component."""
    if fmt == WINDOWS:
        text = path.replace("\\", "/")
        if text.startswith("//"):  # UNC: //server/share/...
            parts = [p for p in text[2:].split("/") if p]
            return ["//"] + parts
        parts = [p for p in text.split("/") if p]
        return parts
    root = ["/"] if path.startswith("/") else []
    return root + [p for p in path.split("/") if p]


def _fold(parts: Sequence[str], fmt: str) -> List[str]:
    return [p.lower() for p in parts] if fmt == WINDOWS else list(parts)


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
        if fmt == WINDOWS and not (_DRIVE.match(self.source) or self.source.startswith("\\\\")):
            raise PathMapError(f"Windows source {self.source!r} must start with a drive letter (Z:\\) "
                               "or a UNC share (\\\\server\\share)")
        object.__setattr__(self, "source_format", fmt)

    @property
    def depth(self) -> int:
        """Number of components in the source: OpenJD tries deeper rules first."""
        return len(_components(self.source, self.source_format))

    def apply(self, path: str) -> Optional[str]:
        """The mapped path, or None when ``path`` is not under ``source``."""
        fmt = self.source_format
        if fmt == POSIX and path_format(path) == WINDOWS:
            return None
        src = _components(self.source, fmt)
        parts = _components(path, fmt)
        if len(parts) < len(src) or _fold(parts[:len(src)], fmt) != _fold(src, fmt):
            return None
        rest = parts[len(src):]
        sep = "\\" if path_format(self.destination) == WINDOWS else "/"
        base = self.destination.rstrip("/\\")
        if not base or re.fullmatch(r"[A-Za-z]:", base):  # a bare root keeps its separator
            base += sep
        if not rest:
            return base
        return base + ("" if base.endswith(sep) else sep) + sep.join(rest)

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
        """Read ``{"rules": [{source, destination[, format]}]}`` or the OpenJD format."""
        if "path_mapping_rules" in data:
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
