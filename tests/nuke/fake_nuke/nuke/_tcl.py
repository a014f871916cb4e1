"""The slice of Nuke's TCL and knob-expression languages the fake ``nuke`` evaluates.

TCL (file knobs, ``getEvaluatedValue``): bracketed commands are substituted,
innermost first, as Nuke's TCL does. The commands a pipeline commonly puts in
a file path are implemented: ``value``, ``file dirname|tail|rootname|join``,
``python``, ``getenv``, ``frame``, ``view``; and the ``$env(NAME)`` variable.
Any other command fails the way TCL does (``invalid command name``), so a test
never passes on a path the fake silently left unevaluated.

Expressions (``Knob.setExpression``): Nuke's expression syntax over numbers,
``frame``, ``parent.knob`` and ``Node.knob`` references, comparisons and
``||``, ``&&``, ``!``. An enumeration knob reads as its index, a boolean as
0 or 1 (Foundry's Python guide: "Animation / Expressions").
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, List, Tuple

Resolve = Callable[[str], Any]
"""``node.knob`` or ``node`` -> a knob (or raises ValueError)."""


class TclError(ValueError):
    """What Nuke reports for a TCL expression it cannot evaluate."""


def _split_words(text: str) -> List[str]:
    """TCL words: whitespace separated, ``{...}`` grouping without substitution, ``[...]`` kept whole."""
    words, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "{":
            depth, j = 1, i + 1
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            if depth:
                raise TclError(f"missing close-brace in {text!r}")
            words.append(text[i + 1:j - 1])
            i = j
        else:
            j, depth = i, 0
            while j < len(text) and (depth or not text[j].isspace()):
                depth += {"[": 1, "]": -1}.get(text[j], 0)
                j += 1
            words.append(text[i:j])
            i = j
    return words


def _matching_bracket(text: str, start: int) -> int:
    depth, braces = 0, 0
    for j in range(start, len(text)):
        c = text[j]
        if c == "{":
            braces += 1
        elif c == "}":
            braces -= 1
        elif c == "[" and not braces:
            depth += 1
        elif c == "]" and not braces:
            depth -= 1
            if depth == 0:
                return j
    raise TclError(f"missing close-bracket in {text!r}")


def evaluate_tcl(text: str, resolve: Resolve, python: Callable[[str], Any], frame: int, view: str) -> str:
    """``text`` with every ``[command]`` and ``$env(NAME)`` substituted."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "[":
            end = _matching_bracket(text, i)
            out.append(_command(text[i + 1:end], resolve, python, frame, view))
            i = end + 1
        elif text.startswith("$env(", i):
            end = text.index(")", i)
            name = text[i + 5:end]
            if name not in os.environ:
                raise TclError(f"can't read \"env({name})\": no such variable")
            out.append(os.environ[name])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _command(body: str, resolve: Resolve, python: Callable[[str], Any], frame: int, view: str) -> str:
    words = _split_words(body)
    if not words:
        return ""
    name = words[0]
    if name == "python":
        return str(python(" ".join(words[1:])))
    # Arguments outside braces are substituted before the command runs.
    args = [evaluate_tcl(w, resolve, python, frame, view) for w in words[1:]]
    if name == "value" and len(args) == 1:
        knob = resolve(args[0])
        return str(knob.value())
    if name == "file" and args:
        verb, rest = args[0], args[1:]
        if verb == "dirname" and len(rest) == 1:
            return os.path.dirname(rest[0]) or "."
        if verb == "tail" and len(rest) == 1:
            return os.path.basename(rest[0])
        if verb == "rootname" and len(rest) == 1:
            return os.path.splitext(rest[0])[0]
        if verb == "join" and rest:
            return os.path.join(*rest)
        raise TclError(f"bad option \"{verb}\" to file")
    if name == "getenv" and len(args) == 1:
        return os.environ.get(args[0], "")
    if name == "frame" and not args:
        return str(frame)
    if name == "view" and not args:
        return view
    raise TclError(f"invalid command name \"{name}\"")


_NAME = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\b")
_OPERATORS: Tuple[Tuple[str, str], ...] = (("||", " or "), ("&&", " and "))


def evaluate_expression(expression: str, resolve: Resolve, frame: float) -> float:
    """A Nuke knob expression's value at ``frame``."""
    text = expression
    for nuke_op, python_op in _OPERATORS:
        text = text.replace(nuke_op, python_op)
    text = re.sub(r"!(?!=)", " not ", text)

    def name(match: "re.Match[str]") -> str:
        word = match.group(0)
        if word in ("or", "and", "not"):
            return word
        if word == "frame":
            return repr(float(frame))
        return repr(float(resolve(word)))

    python = _NAME.sub(name, text)
    try:
        return float(eval(python, {"__builtins__": {}}, {}))  # noqa: S307 (test double: our own expressions)
    except SyntaxError as exc:
        raise TclError(f"cannot parse expression {expression!r}: {exc}") from None
