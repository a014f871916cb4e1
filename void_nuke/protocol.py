"""The void-nuke wire protocol (specified in docs/protocol.md).

A message is a ZeroMQ multipart message: one msgpack *header* frame followed
by zero or more raw *buffer* frames. Buffers are little-endian pixel arrays,
sent and received without copies. The header is a map::

    {"v": 1, "type": "FRAME", "job": "sh010-3f2a", "seq": 17, "re": 0,
     "body": {...}, "buffers": [{"dtype": "float16", "shape": [1080, 2048, 4]}]}

``v`` is the protocol version, ``seq`` the sender's message counter, ``re`` the
``seq`` of the request this message answers (0 if none). Every decode checks
version, type, sizes and buffer lengths, and raises ``ProtocolError`` with a
message fit for the user; the server answers that with an ERROR, never a crash.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import msgpack
import numpy as np

from .errors import ProtocolError, VoidError, shorten
from .exrio import Image, ImageSpec

PROTOCOL_VERSION = 1

# client → server
HELLO = "HELLO"
SUBMIT = "SUBMIT"
FRAME = "FRAME"
COMMIT = "COMMIT"
CANCEL = "CANCEL"
STATUS = "STATUS"
ATTACH = "ATTACH"
RELEASE = "RELEASE"
# server → client
PROGRESS = "PROGRESS"
RESULT = "RESULT"
DONE = "DONE"
ERROR = "ERROR"
# both directions
CREDIT = "CREDIT"
HEARTBEAT = "HEARTBEAT"

TYPES = frozenset({HELLO, SUBMIT, FRAME, COMMIT, CANCEL, STATUS, ATTACH, RELEASE,
                   PROGRESS, RESULT, DONE, ERROR, CREDIT, HEARTBEAT})

MAX_HEADER_BYTES = 64 * 1024 * 1024
"""Large enough for a shot with hundreds of animated Roto shapes."""
MAX_BUFFER_BYTES = 2 * 1024 * 1024 * 1024 - 1
MAX_IMAGE_SIDE = 32768
MAX_CHANNELS = 64
BUFFER_DTYPES = {"float16": np.dtype("<f2"), "float32": np.dtype("<f4"), "uint8": np.dtype("u1")}

Buffer = Union[bytes, memoryview, np.ndarray, Any]


@dataclass
class Message:
    """One protocol message. ``buffers`` are numpy arrays (received or to send)."""

    type: str
    job: Optional[str] = None
    body: Dict[str, Any] = field(default_factory=dict)
    buffers: List[np.ndarray] = field(default_factory=list)
    seq: int = 0
    re: int = 0

    def error(self) -> VoidError:
        """The error carried by an ERROR message."""
        return VoidError.from_dict(self.body)


class Sequencer:
    """Numbers outgoing messages (``seq``) for one socket."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        return next(self._counter)


def _buffer_info(arr: np.ndarray) -> Dict[str, Any]:
    for name, dtype in BUFFER_DTYPES.items():
        if arr.dtype == dtype:
            return {"dtype": name, "shape": list(arr.shape)}
    raise ProtocolError(f"cannot send {arr.dtype} pixels; use float16, float32 or uint8")


def encode(msg: Message) -> List[Buffer]:
    """Frames for ``socket.send_multipart(frames, copy=False)``."""
    if msg.type not in TYPES:
        raise ProtocolError(f"unknown message type {msg.type!r}")
    arrays = []
    for arr in msg.buffers:
        arr = np.ascontiguousarray(arr)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        arrays.append(arr)
    header = {"v": PROTOCOL_VERSION, "type": msg.type, "job": msg.job, "seq": msg.seq, "re": msg.re,
              "body": msg.body, "buffers": [_buffer_info(a) for a in arrays]}
    packed = msgpack.packb(header, use_bin_type=True)
    if len(packed) > MAX_HEADER_BYTES:
        raise ProtocolError(f"message header is {len(packed)} bytes, over the {MAX_HEADER_BYTES} limit")
    return [packed] + arrays


def _frame_bytes(frame: Any) -> memoryview:
    if hasattr(frame, "buffer"):  # zmq.Frame
        return memoryview(frame.buffer)
    return memoryview(frame)


def decode(frames: Sequence[Any]) -> Message:
    """Parse and validate a received multipart message (without routing identity).

    Any input, however malformed, either decodes or raises ``ProtocolError``: a receiver answers
    that with an ERROR and carries on.
    """
    try:
        return _decode(frames)
    except ProtocolError:
        raise
    except Exception as exc:  # whatever slipped past the checks below is still the sender's fault
        raise ProtocolError(f"message cannot be read ({type(exc).__name__})", code="malformed") from None


def _decode(frames: Sequence[Any]) -> Message:
    if not frames:
        raise ProtocolError("empty message")
    raw = _frame_bytes(frames[0])
    if raw.nbytes > MAX_HEADER_BYTES:
        raise ProtocolError(f"message header is {raw.nbytes} bytes, over the {MAX_HEADER_BYTES} limit",
                            code="oversized")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception:
        raise ProtocolError("message header is truncated or not msgpack; is this a void-nuke client?",
                            code="malformed") from None
    if not isinstance(header, dict):
        raise ProtocolError("message header must be a map", code="malformed")
    version = header.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {shorten(version)} received, this side speaks {PROTOCOL_VERSION}; "
                            "install matching void-nuke versions on client and server",
                            code="version_mismatch", detail={"expected": PROTOCOL_VERSION, "got": shorten(version)})
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise ProtocolError(f"unknown message type {shorten(kind)}", code="unknown_type")
    job = header.get("job")
    body = header.get("body", {})
    infos = header.get("buffers", [])
    seq, re_ = header.get("seq", 0), header.get("re", 0)
    if (job is not None and not isinstance(job, str)) or not isinstance(body, dict) \
            or not isinstance(infos, list) or not _is_int(seq) or not _is_int(re_) \
            or not all(isinstance(k, str) for k in body):
        raise ProtocolError("message header has fields of the wrong type", code="malformed")
    if len(infos) != len(frames) - 1:
        raise ProtocolError(f"{kind} announces {len(infos)} buffers but carries {len(frames) - 1}; "
                            "the message was truncated", code="truncated")
    buffers = [_decode_buffer(info, frames[i + 1], kind) for i, info in enumerate(infos)]
    return Message(kind, job, body, buffers, seq, re_)


def _is_int(value: Any) -> bool:
    """A non-negative whole number (msgpack bounds it to 64 bits)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _decode_buffer(info: Any, frame: Any, kind: str) -> np.ndarray:
    if not isinstance(info, dict):
        raise ProtocolError(f"{kind}: buffer description must be a map", code="malformed")
    name = info.get("dtype")
    dtype = BUFFER_DTYPES.get(name) if isinstance(name, str) else None
    shape = info.get("shape")
    if dtype is None:
        raise ProtocolError(f"{kind}: unsupported buffer type {shorten(name)}", code="malformed")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3
            and all(_is_int(n) and 0 < n <= MAX_IMAGE_SIDE for n in shape)):
        raise ProtocolError(f"{kind}: bad buffer shape {shorten(shape)}", code="malformed")
    if len(shape) == 3 and shape[2] > MAX_CHANNELS:
        raise ProtocolError(f"{kind}: {shape[2]} channels is over the {MAX_CHANNELS} limit", code="oversized")
    expected = int(np.prod(shape)) * dtype.itemsize
    if expected > MAX_BUFFER_BYTES:
        raise ProtocolError(f"{kind}: buffer of {expected} bytes is over the limit", code="oversized")
    data = _frame_bytes(frame)
    if data.nbytes != expected:
        raise ProtocolError(f"{kind}: buffer has {data.nbytes} bytes, its header says {expected}",
                            code="truncated")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    # Zero-copy when the frame is aligned for its type; small ZeroMQ frames may start at an odd
    # address, and unaligned arrays are slow and refused by libraries that take buffers (OIIO).
    return arr if arr.flags.aligned else arr.copy()


# -- request fields -----------------------------------------------------------------------
# Every body field a peer sends is checked for its type and size before use; a wrong one is the
# sender's error (``bad_request``, naming the field), never an internal error of the receiver.

def _bad(msg: Message, name: str, wanted: str, value: Any) -> ProtocolError:
    return ProtocolError(f"{msg.type} {name} must be {wanted}, got {shorten(value)}", code="bad_request",
                         detail={"field": name})


def int_field(msg: Message, name: str, default: int, low: int, high: int) -> int:
    """``msg.body[name]``: a whole number in ``[low, high]``."""
    value = msg.body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(msg, name, f"a whole number from {low} to {high}", value)
    return value


def bool_field(msg: Message, name: str, default: bool) -> bool:
    value = msg.body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(msg, name, "true or false", value)
    return value


def str_field(msg: Message, name: str, default: str, choices: Sequence[str]) -> str:
    value = msg.body.get(name, default)
    if not isinstance(value, str) or value not in choices:
        raise _bad(msg, name, f"one of {', '.join(choices)}", value)
    return value


def frames_field(msg: Message, name: str, limit: int) -> List[int]:
    """A list of frame numbers (``have``), at most ``limit`` long."""
    value = msg.body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(msg, name, "a list of frame numbers", value)
    if len(value) > limit:
        raise ProtocolError(f"{msg.type} {name} lists {len(value)} frames; the limit is {limit}",
                            code="oversized", detail={"field": name, "limit": limit})
    if not all(isinstance(f, int) and not isinstance(f, bool) for f in value):
        raise _bad(msg, name, "a list of frame numbers", value)
    return value


# -- images -------------------------------------------------------------------------------

def image_body(spec: ImageSpec, **extra: Any) -> Dict[str, Any]:
    body = {"spec": spec.to_dict()}
    body.update(extra)
    return body


def image_from_message(msg: Message) -> Image:
    """The image in a FRAME or RESULT message (pixels are a view of the received buffer)."""
    if len(msg.buffers) != 1 or "spec" not in msg.body:
        raise ProtocolError(f"{msg.type} must carry one pixel buffer and its spec", code="malformed")
    try:
        spec = ImageSpec.from_dict(msg.body["spec"])
    except VoidError as exc:
        raise ProtocolError(f"{msg.type}: {exc.message}", code="malformed") from None
    pixels = msg.buffers[0]
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if tuple(pixels.shape) != spec.shape or str(pixels.dtype).lstrip("<") != spec.dtype:
        raise ProtocolError(f"{msg.type}: pixels {pixels.shape} {pixels.dtype} do not match the spec "
                            f"{spec.shape} {spec.dtype}", code="malformed")
    return Image(pixels.view(np.dtype(spec.dtype)), spec)


def error_message(err: VoidError, job: Optional[str] = None, re: int = 0) -> Message:
    return Message(ERROR, job, err.to_dict(), re=re)

