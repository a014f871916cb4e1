"""A seeded fuzz run against a real server: thousands of hostile messages of many kinds, then a normal job.

Every hostile message is answered with an ERROR of its own kind (never ``internal``) or with a normal
reply, the server keeps answering, a normal job completes afterwards, the server's memory has not
grown, and its log stays short however much it was sent.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Callable, Dict, List

import msgpack
import numpy as np
import pytest
from hostile import RawPeer

from void_nuke.client import Client
from void_nuke.demo import make_synthetic_shot
from void_nuke.exrio import make_spec
from void_nuke.protocol import ERROR, HELLO, PROTOCOL_VERSION

SEED = 20260417
ROUNDS = 100
"""Each round sends one message of every kind: 100 x 27 kinds = 2,700 messages."""


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def junk(rng: random.Random, depth: int = 0):
    """A random msgpack-able value: scalars of every type, strings with odd characters, nesting."""
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 7:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 8:
        return {str(junk(rng, 3))[:8]: junk(rng, depth + 1) for _ in range(rng.randrange(4))}
    if choice == 9:
        return "../" * 5
    return [None, rng.random() < 0.5, rng.randrange(-2 ** 63, 2 ** 64), float("nan"), rng.uniform(-1e308, 1e308),
            "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(rng.randrange(12))),
            rng.randbytes(rng.randrange(12))][choice]


def kinds(peer: RawPeer, shot: Dict, rng: random.Random) -> Dict[str, Callable[[], List[bytes]]]:
    """Message makers, one per kind of hostility."""
    def mutated_shot() -> Dict:
        data = dict(shot)
        for _ in range(rng.randrange(1, 4)):
            data[rng.choice(sorted(data) + ["unknown"])] = junk(rng)
        return data

    def header(**fields) -> List[bytes]:
        return [peer.header(**fields)]

    pixels = np.zeros((4, 4, 4), np.float16)
    spec = make_spec(4, 4).to_dict()
    return {
        "random-bytes": lambda: [rng.randbytes(rng.randrange(1, 64))],
        "empty-frame": lambda: [b""],
        "truncated": lambda: [peer.header(type="STATUS")[:rng.randrange(1, 20)]],
        "not-a-map": lambda: [msgpack.packb(junk(rng, 3))],
        "bad-version": lambda: header(v=rng.choice([0, 2, "1", [1], True, None, 1.0])),
        "bad-type": lambda: header(type=rng.choice([["HELLO"], {"a": 1}, b"HELLO", None, 7, "EXPLODE"])),
        "server-only-type": lambda: header(type=rng.choice(["PROGRESS", "RESULT", "DONE", "ERROR"])),
        "bad-job": lambda: header(type="STATUS", job=rng.choice([7, ["j"], {"j": 1}, "x\n", "../../etc", "j" * 99])),
        "bad-seq": lambda: header(seq=rng.choice([-1, "1", [1], 2 ** 64 - 1, None]), re=junk(rng)),
        "bad-body": lambda: header(type="STATUS", body=junk(rng)),
        "buffer-count": lambda: header(type="FRAME", job="fz", buffers=[{"dtype": "uint8", "shape": [4]}]),
        "buffer-desc": lambda: header(type="FRAME", job="fz", buffers=[{"dtype": junk(rng), "shape": junk(rng)}])
        + [b"\0" * 4],
        "buffer-size": lambda: header(type="FRAME", job="fz", buffers=[{"dtype": "float16", "shape": [4, 4, 4]}])
        + [b"\0" * rng.randrange(0, 100)],
        "submit-fields": lambda: header(type="SUBMIT", job=f"fz{rng.randrange(50)}",
                                        body={"shot": mutated_shot(), "transfer": "pixels"}),
        "submit-huge": lambda: header(type="SUBMIT", job="fz-huge", body={"shot": {
            **shot, rng.choice(["frames", "handles"]): rng.choice(["1-300000", [0, 300000], "1-999999999x1"])}}),
        "submit-options": lambda: header(type="SUBMIT", job="fz-opt", body={
            "shot": shot, rng.choice(["transfer", "preview", "stream", "have"]): junk(rng)}),
        "submit-paths": lambda: header(type="SUBMIT", job=f"fz-path{rng.randrange(9)}", body={"transfer": "paths",
            "shot": {**shot, rng.choice(["plate", "ocio_config"]): rng.choice(
                ["/etc/passwd.####", "/etc/x.%04d.exr", "../../x.####.exr", "relative.####.exr"]),
                "output": rng.choice(["/tmp", "../../escape", "out"])}}),
        "frame-fields": lambda: header(type="FRAME", job="fz", body={"role": junk(rng), "frame": junk(rng),
                                                                      "spec": spec}, buffers=[
            {"dtype": "float16", "shape": [4, 4, 4]}]) + [pixels.tobytes()],
        "frame-spec": lambda: header(type="FRAME", job="fz", body={"role": "plate", "frame": 1001, "spec": {
            **spec, rng.choice(["width", "channels", "attributes", "x", "full_width", "dtype"]): junk(rng)}},
            buffers=[{"dtype": "float16", "shape": [4, 4, 4]}]) + [pixels.tobytes()],
        "status-limit": lambda: header(type="STATUS", body={"limit": junk(rng)}),
        "credit-n": lambda: header(type="CREDIT", job="fz", body={"n": junk(rng)}),
        "attach-have": lambda: header(type="ATTACH", job="fz", body={"have": rng.choice(
            [junk(rng), list(range(rng.randrange(10_001, 30_000))), ["1001"], [[1]]])}),
        "unknown-job": lambda: header(type=rng.choice(["COMMIT", "CANCEL", "STATUS", "ATTACH"]),
                                      job=f"nope{rng.randrange(1000)}"),
        "no-job": lambda: header(type=rng.choice(["COMMIT", "CANCEL", "ATTACH", "FRAME", "SUBMIT"])),
        "heartbeat": lambda: header(type="HEARTBEAT", job=rng.choice([None, "fz"]), body=junk(rng)),
        "deep-nesting": lambda: [nested(rng.randrange(100, 5000))],
        "many-parts": lambda: header() + [b"x"] * rng.randrange(2, 40),
    }


def nested(depth: int) -> bytes:
    """A STATUS header whose body nests lists ``depth`` deep (beyond what msgpack itself will pack)."""
    head = msgpack.packb({"v": PROTOCOL_VERSION, "type": "STATUS", "body": {"x": 0}})
    return head[:-1] + b"\x91" * depth + b"\x01"


@pytest.mark.slow
def test_thousands_of_hostile_messages_leave_the_server_serving(server, tmp_path):
    rng = random.Random(SEED)
    shot = make_synthetic_shot(str(tmp_path / "shot"), frames=3, size=(48, 32)).shot
    with Client(server.address) as client:  # warm up: the baseline includes a finished job
        client.run(shot, job_id="before")
    assert server.proc is not None
    before = rss_bytes(server.proc.pid)
    codes: Counter = Counter()
    sent: Counter = Counter()
    deadline = time.monotonic() + 60
    with RawPeer(server.address) as peer:
        makers = kinds(peer, shot.to_dict(), rng)
        assert len(makers) >= 20
        replies = threading.Thread(target=collect, args=(peer, codes, deadline), daemon=True)
        replies.start()
        for _ in range(ROUNDS):
            for name, make in makers.items():
                peer.send_frames(make())
                sent[name] += 1
        hello = peer.send(HELLO)
        replies.join(max(1.0, deadline - time.monotonic()))
        assert codes["hello"] == 1, "the server stopped answering"
    assert sum(sent.values()) >= 2000 and time.monotonic() < deadline
    assert codes["internal"] == 0, codes
    assert codes["error"] >= 0.6 * sum(sent.values()), codes  # nearly every kind is refused
    with Client(server.address) as client:
        result = client.run(shot, job_id="after")
        assert client.hello()["server"] == "void-server"
    assert result.frames == list(shot.process_frames)
    grown = rss_bytes(server.proc.pid) - before
    assert grown < 50 * 1024 * 1024, f"server memory grew by {grown / 2 ** 20:.1f} MiB"
    assert sum(len(line) for line in server.log) < 100_000, "the log must not grow with the flood"
    print(f"fuzz: {sum(sent.values())} messages of {len(sent)} kinds; replies {dict(codes)}; "
          f"server RSS grew {grown / 2 ** 20:.1f} MiB; log {sum(len(line) for line in server.log)} bytes")
    del hello


def collect(peer: RawPeer, codes: Counter, deadline: float) -> None:
    """Count replies by error code (``hello`` when HELLO, the last message sent, is answered) until
    the server has been quiet for a second after it (SUBMITs are checked on a helper thread)."""
    while time.monotonic() < deadline:
        msg = peer.receive(1.0)
        if msg is None:
            if codes["hello"]:
                return
            continue
        if msg.type == ERROR:
            codes["error"] += 1
            codes[msg.body.get("code")] += 1
        elif msg.type == HELLO:
            codes["hello"] += 1


@pytest.mark.slow
def test_a_flood_of_malformed_messages_does_not_stop_a_job_or_fill_the_log(server, tmp_path):
    shot = make_synthetic_shot(str(tmp_path / "shot"), frames=8, size=(96, 56)).shot
    stop = threading.Event()
    flooded = [0]

    def flood():
        with RawPeer(server.address) as peer:  # never reads its replies: its queue fills up too
            bad = [peer.header(type=["HELLO"]), peer.header(v=[1]), b"\xc1 junk"]
            while not stop.is_set():
                peer.send_frames([bad[flooded[0] % 3]])
                flooded[0] += 1

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        with Client(server.address, timeout=60) as client:
            result = client.run(shot)
    finally:
        stop.set()
        thread.join(10)
    assert result.frames == list(shot.process_frames) and flooded[0] > 1000
    assert sum(len(line) for line in server.log) < 100_000
