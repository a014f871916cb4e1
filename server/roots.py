"""Where a paths-mode job may read and write: the server's allowed roots.

With ``transfer=paths`` a client names files on shared storage and the server
reads and writes them itself, so every path is checked before the job is
queued. A path is allowed when its real location (symbolic links and ``..``
resolved) lies under an allowed root: a folder given with ``void-server serve
--allow-root DIR``, a path-mapping target, or the server's data folder. The
server's own state inside the data folder (the job folders with other jobs'
uploaded frames, the database, the private worker folder) is never allowed.

A refused path is answered ``forbidden_path`` without looking at whether it
exists, so a client cannot use the server to learn which files exist outside
the roots. Inside the roots, a missing frame is reported as missing.
"""
from __future__ import annotations

import os
from typing import Iterable, List, Sequence, Tuple

from void_nuke.errors import VoidError, shorten

PRIVATE_ENTRIES = ("jobs", "private", "jobs.sqlite", "jobs.sqlite-wal", "jobs.sqlite-shm")
"""Entries of the data folder that belong to the server alone."""


class ForbiddenPath(VoidError):
    code = "forbidden_path"


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


class AllowedRoots:
    """The folders paths-mode jobs may use, compared by real path."""

    def __init__(self, roots: Iterable[str], private: Iterable[str] = ()) -> None:
        given = [r for r in roots if r]
        self.shown: Tuple[str, ...] = tuple(dict.fromkeys(os.path.abspath(r) for r in given if os.path.isabs(r)))
        self.roots: Tuple[str, ...] = tuple(dict.fromkeys(_real(r) for r in self.shown))
        self.private: Tuple[str, ...] = tuple(_real(p) for p in private)

    @classmethod
    def for_server(cls, data_dir: str, allow_roots: Sequence[str],
                   path_map: Sequence[Tuple[str, str]]) -> "AllowedRoots":
        """``--allow-root`` folders, path-mapping targets and the data folder, minus the server's own state."""
        targets = [dest for _, dest in path_map if os.path.isabs(dest)]
        return cls(list(allow_roots) + targets + [data_dir],
                   [os.path.join(data_dir, entry) for entry in PRIVATE_ENTRIES])

    def allows(self, path: str) -> bool:
        """True when the real location of the absolute ``path`` is under a root and not private."""
        if not os.path.isabs(path):
            return False
        real = _real(path)
        return any(_under(real, r) for r in self.roots) and not any(_under(real, p) for p in self.private)

    def check(self, path: str, what: str) -> str:
        """``path``'s real location, or ``ForbiddenPath`` naming the roots and how to add one."""
        if not os.path.isabs(path):
            raise self.relative(path, what)
        if not self.allows(path):
            raise self.refusal(path, what)
        return os.path.realpath(path)

    @staticmethod
    def relative(path: str, what: str) -> ForbiddenPath:
        return ForbiddenPath(f"{what}: {shorten(path, 200)} is a relative path; in paths mode every path must be "
                             "absolute as the server sees it (use --path-map to translate)", detail={"field": what})

    def refusal(self, path: str, what: str) -> ForbiddenPath:
        roots = ", ".join(self.shown) or "none"
        return ForbiddenPath(f"{what}: {shorten(path, 200)} is outside the folders this server may read and "
                             f"write (its allowed roots: {roots}). The server's administrator can add a folder "
                             "with 'void-server serve --allow-root DIR'; or send pixels instead of paths",
                             detail={"field": what, "roots": list(self.shown)})

    def check_sequence(self, pattern: str, frames: Iterable[int], what: str) -> Tuple[str, List[int]]:
        """The pattern with its folder's real path, and the frames missing under the roots.

        Each frame is resolved on its own: a frame file that is a link leading out of the roots
        is refused like a path outside them.
        """
        from void_nuke.sequences import SequencePattern

        seq = SequencePattern(pattern)
        if not os.path.isabs(pattern):
            raise self.relative(pattern, what)
        if not self.allows(seq.directory):
            raise self.refusal(pattern, what)
        real_pattern = os.path.join(os.path.realpath(seq.directory), os.path.basename(pattern))
        missing = []
        for frame in frames:
            path = seq.path(frame)
            if not self.allows(path):
                raise self.refusal(path, what)
            if not os.path.isfile(path):
                missing.append(frame)
        return real_pattern, missing
