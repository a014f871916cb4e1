"""Errors that name the problem and what to do about it.

Every error that crosses the wire is ``{code, message, detail}``. ``code`` is a
stable machine-readable string, ``message`` says what was wrong and what to do,
``detail`` carries extra context (a field name, a server trace id...).
"""
from __future__ import annotations

from typing import Any, Dict, Optional


class VoidError(Exception):
    """Base class for every error void-nuke raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: Optional[str] = None,
                 detail: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail: Dict[str, Any] = dict(detail or {})

    def to_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "VoidError":
        """Rebuild an error received over the wire, as the class its code belongs to."""
        code = str(data.get("code", "error"))
        detail = dict(data.get("detail") or {})
        klass = _CLASS_BY_CODE.get(code, VoidError)
        err = Exception.__new__(klass)
        VoidError.__init__(err, str(data.get("message", "unknown error")), code=code, detail=detail)
        if isinstance(err, ShotError):
            err.field = str(detail.get("field", ""))
        return err

    def summary(self) -> str:
        """One line for a person: the message, then the trace id and the log of an unexpected failure."""
        notes = []
        if self.detail.get("trace_id"):
            notes.append(f"trace id {self.detail['trace_id']}")
        if self.detail.get("log"):
            notes.append(f"full traceback in {self.detail['log']}")
        elif self.detail.get("trace_id"):
            notes.append("the server log has the full traceback")
        return f"{self.message} ({'; '.join(notes)})" if notes else self.message

    def __str__(self) -> str:
        return self.message


class ShotError(VoidError):
    """A shot description is invalid; ``field`` names the offending field."""

    code = "invalid_shot"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", detail={"field": field})
        self.field = field


class ProtocolError(VoidError):
    """A message could not be decoded or violates the protocol."""

    code = "protocol"


class ImageError(VoidError):
    """An image could not be read or written, or has the wrong shape."""

    code = "image"


class Cancelled(VoidError):
    """Work was cancelled on request."""

    code = "cancelled"

    def __init__(self, message: str = "the job was cancelled") -> None:
        super().__init__(message)


class ServerUnreachable(VoidError):
    """No answer from the server within the timeout."""

    code = "unreachable"


class AuthenticationFailed(ServerUnreachable):
    """The server's CURVE handshake refused this client (wrong or missing keys)."""

    code = "auth_failed"


def shorten(value: Any, limit: int = 80) -> str:
    """A short ``repr`` of a value a client sent: hostile input must not flood a message or a log."""
    if isinstance(value, (str, bytes)):
        text = repr(value[:limit])
        return text if len(value) <= limit else f"{text}... ({len(value)} characters)"
    if isinstance(value, (list, tuple, dict, set)):
        return f"a {type(value).__name__} of {len(value)} items" if len(value) > 8 else shorten(repr(value), limit)
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


class Detached(VoidError):
    """The client stopped following a job that keeps running on its server."""

    code = "detached"


# -- exit codes -----------------------------------------------------------------------------
# Every void-nuke command ends with one of these (docs/cli.md has the table).
EXIT_DONE = 0
EXIT_FAILED = 1
"""The job, or a shot of a batch, failed."""
EXIT_BAD_INPUT = 2
"""The request cannot run as given: flags, shot file, input frames (argparse uses 2 as well)."""
EXIT_UNREACHABLE = 3
"""No void-server answered."""
EXIT_NOT_FINISHED = 4
"""``status JOB``: the job is still receiving, queued or running."""
EXIT_INTERNAL = 5
"""A bug in void-nuke: the message says where the traceback was saved."""
EXIT_HANGUP = 129
"""The terminal closed (SIGHUP): the job goes on on its server."""
EXIT_CANCELLED = 130
"""Cancelled: Ctrl-C, ``cancel``, or a job cancelled on its server."""
EXIT_BROKEN_PIPE = 141
"""The reader of the output went away (``void-nuke status | head``)."""

BAD_INPUT_CODES = frozenset({"invalid_shot", "image", "bad_address", "job_conflict", "unknown_engine", "colour",
                             "needs_quadmask", "bad_request", "forbidden_path", "inconsistent_frame", "empty_mask"})


def exit_code(exc: BaseException) -> int:
    """The exit code a command ends with when ``exc`` stops it."""
    if isinstance(exc, Cancelled):
        return EXIT_CANCELLED
    if isinstance(exc, ServerUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(exc, Detached):
        return EXIT_HANGUP
    if isinstance(exc, VoidError):
        return EXIT_BAD_INPUT if exc.code in BAD_INPUT_CODES else EXIT_FAILED
    return EXIT_INTERNAL


_CLASS_BY_CODE = {
    "invalid_shot": ShotError, "image": ImageError, "cancelled": Cancelled, "unreachable": ServerUnreachable,
    "auth_failed": AuthenticationFailed,
    "detached": Detached,
    "protocol": ProtocolError, "malformed": ProtocolError, "truncated": ProtocolError,
    "oversized": ProtocolError, "version_mismatch": ProtocolError, "unknown_type": ProtocolError,
}
