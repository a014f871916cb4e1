"""Hostile load against a real void-server: what refusing, bounding and flooding cost.

Measured in one run, each against a baseline from the same run:
  * HELLO round trip on an idle server (the baseline for the latencies below)
  * refusing a SUBMIT of 300,000 frames (handles [0, 300000]): round trip and server CPU
  * HELLO round trip while a max-size SUBMIT (10,000 frames, ~200,000 Roto points) is checked
  * server CPU per STATUS for a 10,000-frame job against a 10-frame job (aim ~1: no per-frame work)
  * an 8-frame job alone, and during a flood of malformed messages; log bytes the flood caused

    python bench/bench_hostile.py
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from typing import Callable, List

import msgpack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from void_nuke.client import Client  # noqa: E402
from void_nuke.demo import make_synthetic_shot, start_server, stop_server  # noqa: E402
from void_nuke.protocol import HELLO, PROTOCOL_VERSION, STATUS, SUBMIT, Message, decode, encode  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads, not its children)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Peer:
    def __init__(self, address: str) -> None:
        import zmq

        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)
        self.seq = 0

    def send(self, kind: str, job=None, body=None) -> int:
        self.seq += 1
        self.sock.send_multipart(encode(Message(kind, job, body or {}, seq=self.seq)))
        return self.seq

    def reply(self, seq: int) -> Message:
        while True:
            msg = decode(self.sock.recv_multipart())
            if msg.re == seq:
                return msg

    def rtt(self, kind: str, job=None, body=None) -> float:
        t0 = time.perf_counter()
        self.reply(self.send(kind, job, body))
        return time.perf_counter() - t0


def median_ms(fn: Callable[[], float], n: int = 50) -> float:
    return statistics.median(fn() for _ in range(n)) * 1000


def main() -> None:
    work = tempfile.mkdtemp(prefix="void-bench-hostile-")
    synthetic = make_synthetic_shot(os.path.join(work, "shot"), frames=8, size=(96, 56))
    shot = synthetic.shot.to_dict()
    proc, address = start_server(os.path.join(work, "data"))
    log: List[str] = []
    threading.Thread(target=lambda: [log.append(line) for line in proc.stdout], daemon=True).start()
    try:
        with Client(address, timeout=60) as client:
            while not client.hello()["gpu"]:
                time.sleep(0.1)
            client.run(synthetic.shot, job_id="warm-up")
        peer, other = Peer(address), Peer(address)
        idle = median_ms(lambda: peer.rtt(HELLO))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
        print(f"idle HELLO round trip: {idle:.2f} ms (baseline)")

        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        reply = peer.reply(peer.send(SUBMIT, "huge", {"shot": {**shot, "handles": [0, 300000]}}))
        refuse_ms, refuse_cpu = (time.perf_counter() - t0) * 1000, cpu_seconds(proc.pid) - cpu0
        assert reply.body["code"] == "invalid_shot"
        print(f"refuse a 300,000-frame SUBMIT: {refuse_ms:.2f} ms round trip ({refuse_ms / idle:.1f}x HELLO), "
              f"server CPU {refuse_cpu * 1000:.0f} ms")

        points = [[float(i % 40), float(i // 40 % 30), 0, 0, 0, 0, 0] for i in range(40)]
        shapes = [{"name": f"s{i}", "role": "remove", "keys": [{"frame": 2000 + k, "points": points}
                                                              for k in range(100)]} for i in range(49)]
        big = {**shot, "frames": "2000-11989", "handles": [5, 5], "shapes": shapes}
        size = len(msgpack.packb(big))
        t0 = time.perf_counter()
        seq = peer.send(SUBMIT, "biggest", {"shot": big})
        during = [other.rtt(HELLO) for _ in range(20)]
        peer.reply(seq)
        submit_s = time.perf_counter() - t0
        during_ms = statistics.median(during) * 1000
        print(f"max-size SUBMIT ({size / 2 ** 20:.1f} MiB header, 10,000 frames): {submit_s:.2f} s to check; "
              f"HELLO meanwhile {during_ms:.2f} ms median, {max(during) * 1000:.1f} ms worst "
              f"({during_ms / idle:.1f}x idle)")

        peer.reply(peer.send(SUBMIT, "small", {"shot": {**shot, "frames": "1001-1010"}}))
        per_status = {}
        for job in ("small", "biggest"):
            cpu0 = cpu_seconds(proc.pid)
            for _ in range(500):
                peer.reply(peer.send(STATUS, job))
            per_status[job] = (cpu_seconds(proc.pid) - cpu0) / 500 * 1e6
        print(f"server CPU per STATUS: {per_status['small']:.0f} us (10 frames), {per_status['biggest']:.0f} us "
              f"(10,000 frames): ratio {per_status['biggest'] / per_status['small']:.2f}")

        t0 = time.perf_counter()
        with Client(address, timeout=60) as client:
            client.run(synthetic.shot, job_id="quiet")
        quiet_s = time.perf_counter() - t0
        stop, sent = threading.Event(), [0]

        def flood() -> None:
            flooder = Peer(address)
            bad = [msgpack.packb({"v": PROTOCOL_VERSION, "type": ["HELLO"]}), b"\xc1 junk"]
            while not stop.is_set():
                flooder.sock.send_multipart([bad[sent[0] % 2]])
                sent[0] += 1

        log_before = sum(len(line) for line in log)
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        t0 = time.perf_counter()
        with Client(address, timeout=60) as client:
            client.run(synthetic.shot, job_id="flooded")
        flooded_s = time.perf_counter() - t0
        stop.set()
        thread.join()
        time.sleep(0.5)
        print(f"8-frame job: {quiet_s:.2f} s alone, {flooded_s:.2f} s during a flood of {sent[0]} malformed "
              f"messages ({sent[0] / flooded_s:.0f}/s): ratio {flooded_s / quiet_s:.2f}; the flood added "
              f"{sum(len(line) for line in log) - log_before} bytes of log")
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
