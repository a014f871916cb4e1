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


_CLASS_BY_CODE = {
    "invalid_shot": ShotError, "image": ImageError, "cancelled": Cancelled, "unreachable": ServerUnreachable,
    "protocol": ProtocolError, "malformed": ProtocolError, "truncated": ProtocolError,
    "oversized": ProtocolError, "version_mismatch": ProtocolError, "unknown_type": ProtocolError,
}
