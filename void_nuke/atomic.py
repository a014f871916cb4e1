"""Atomic file writes: a reader never sees a half-written file.

Data is written to a temporary file in the destination folder, flushed to
disk, then moved into place. Without ``overwrite`` the move refuses to replace
an existing file (``os.link`` fails if the name exists), so an earlier result
is never lost even when two writers race.

The temporary file is created with mode 0666 and the process umask applies, as
for any file a program creates (``tempfile.mkstemp`` would force 0600, and the
published result would keep it: colleagues and farm users could not read it).
Its name is hidden and recognisable (``.<name>.<random>.void-tmp<ext>``), so a
writer killed mid-write leaves nothing a reader picks up, and
``remove_stale_temps`` can clear the leftovers before a job resumes.
"""
from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from typing import Iterator, List

TEMP_MARK = ".void-tmp"
_TEMP_NAME = re.compile(r"^\..*\.[0-9a-f]{12}" + re.escape(TEMP_MARK) + r"(\.[^.]*)?$")


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


def _create_temp(directory: str, base: str, ext: str) -> str:
    """Create an empty, hidden temporary file beside the destination; the umask sets its mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}{TEMP_MARK}{ext}")
        try:
            os.close(os.open(tmp, flags, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_path(path: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension); publish it on success."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; void-nuke never overwrites a result")
    base, ext = os.path.splitext(os.path.basename(path))
    tmp = _create_temp(directory, base, ext)
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


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file ``atomic_path`` made."""
    return bool(_TEMP_NAME.match(name))


def remove_stale_temps(directory: str) -> List[str]:
    """Delete temporary files a killed writer left in ``directory``; return their names.

    Call it only where no other writer is at work in that folder (a job resuming in its own
    result folder): a live writer's temporary file looks the same.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if is_temp_name(name):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed
