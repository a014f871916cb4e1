"""A raw protocol peer for tests that play a hostile client (or a foreign process)."""
from __future__ import annotations

import socket
from typing import Any, Dict, List, Optional

import msgpack
import zmq

from void_nuke.protocol import PROTOCOL_VERSION, Message, decode, encode


def free_port() -> int:
    """A loopback port nobody listens on (for a server that must come back on the same address)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawPeer:
    """A DEALER that sends whatever it is told and returns what comes back."""

    def __init__(self, address: str, ctx: Optional[zmq.Context] = None, **options: Any) -> None:
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        for name, value in options.items():
            setattr(self.sock, name, value)
        self.sock.connect(address)
        self.seq = 0

    def close(self) -> None:
        self.sock.close(0)

    def __enter__(self) -> "RawPeer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send_frames(self, frames: List[bytes]) -> None:
        self.sock.send_multipart(frames)

    def send(self, kind: str, job: Optional[str] = None, body: Optional[Dict[str, Any]] = None,
             buffers: Optional[List[Any]] = None) -> int:
        self.seq += 1
        self.sock.send_multipart(encode(Message(kind, job, body or {}, buffers or [], self.seq)), copy=False)
        return self.seq

    def header(self, **fields: Any) -> bytes:
        """A header with any fields, valid or not (defaults: a HELLO)."""
        self.seq += 1
        base = {"v": PROTOCOL_VERSION, "type": "HELLO", "job": None, "seq": self.seq, "re": 0, "body": {},
                "buffers": []}
        base.update(fields)
        return msgpack.packb(base, use_bin_type=True)

    def receive(self, timeout: float = 30.0) -> Optional[Message]:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return decode(self.sock.recv_multipart())

    def reply(self, seq: int, timeout: float = 30.0) -> Message:
        """The answer to request ``seq`` (other messages are skipped)."""
        while True:
            msg = self.receive(timeout)
            assert msg is not None, "the server did not answer"
            if msg.re == seq:
                return msg

    def request(self, kind: str, job: Optional[str] = None, body: Optional[Dict[str, Any]] = None,
                timeout: float = 30.0) -> Message:
        return self.reply(self.send(kind, job, body), timeout)
