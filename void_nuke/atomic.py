"""Atomic file writes: a reader never sees a half-written file.

Data is written to a temporary file in the destination folder, flushed to
disk, then moved into place. Without ``overwrite`` the move refuses to replace
an existing file (``os.link`` fails if the name exists), so an earlier result
is never lost even when two writers race.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator


def _fsync_dir(directory: str) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp_path: str, path: str, overwrite: bool = False) -> None:
    """Move a finished temporary file to ``path``; refuse to replace unless ``overwrite``."""
    try:
        if overwrite:
            os.replace(tmp_path, path)
        else:
            try:
                os.link(tmp_path, path)
            except FileExistsError:
                raise FileExistsError(f"{path} already exists; void-nuke never overwrites a result. "
                                      "Write into a new version folder instead.") from None
            except OSError:  # filesystems without hard links
                if os.path.exists(path):
                    raise FileExistsError(f"{path} already exists") from None
                os.replace(tmp_path, path)
                return
            os.unlink(tmp_path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextmanager
def atomic_path(path: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension); publish it on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; void-nuke never overwrites a result")
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
    os.close(fd)
    try:
        yield tmp
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    publish(tmp, path, overwrite)


def atomic_write_bytes(path: str, data: bytes, overwrite: bool = False) -> None:
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
