"""File paths as Nuke evaluates them.

A file knob may hold TCL (``[file dirname [value root.name]]/void``) and a
relative path; Nuke evaluates the TCL and reads a relative path against the
script's project directory (the root ``project_directory`` knob, itself often
``[python {nuke.script_directory()}]``), or else against its working
directory. The same rules apply here, so a path means what it means to Nuke:

- ``evaluated(knob)``: ``File_Knob.getEvaluatedValue()`` (TCL evaluated,
  sequences in ``%04d`` notation), made absolute;
- ``for_read(path)``: what to put in a Read's file knob: relative to the
  project directory when the file lies under it (the script and its results
  then move together), else absolute.
"""
from __future__ import annotations

import os

import nuke

from ..errors import ShotError


def project_directory() -> str:
    """The evaluated root ``project_directory``, or "" when it is not set."""
    knob = nuke.root().knob("project_directory")
    if knob is None:
        return ""
    try:
        return str(knob.getEvaluatedValue()).strip()
    except Exception as exc:  # a TCL error in the project directory
        raise ShotError("project_directory", f"Nuke cannot evaluate the script's project directory "
                                             f"{knob.getText()!r}: {exc}") from None


def absolute(path: str) -> str:
    """A path Nuke would read: relative ones against the project directory, else the working directory."""
    if not path or os.path.isabs(path):
        return os.path.normpath(path) if path else path
    base = project_directory()
    return os.path.normpath(os.path.join(base, path) if base else os.path.abspath(path))


def evaluated(node: object, name: str) -> str:
    """A file knob's value as Nuke evaluates it (TCL, then the project directory), or "" when empty."""
    knob = node[name]  # type: ignore[index]
    try:
        value = str(knob.getEvaluatedValue()).strip()
    except Exception as exc:  # TCL errors surface as RuntimeError/ValueError depending on the build
        raise ShotError(name, f"Nuke cannot evaluate {node.name()}.{name} ({knob.getText()!r}): {exc}; "  # type: ignore[attr-defined]
                              "fix the expression or give a plain path") from None
    return absolute(value) if value else ""


def for_read(path: str) -> str:
    """``path`` relative to the project directory when it lies under it, else ``path`` itself."""
    base = project_directory()
    if not base or not os.path.isabs(base):
        return path
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        return path
    return path if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative.replace(os.sep, "/")
