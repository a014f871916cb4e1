"""Frame transport: the void-nuke protocol against raw pyzmq, between two processes.

For 2048x1080 and 3840x2160 RGBA half frames, measured in one run:
  * memcpy      np.copyto of the frame into a preallocated array (the physical reference)
  * raw pyzmq   DEALER → ROUTER multipart sends of the same buffer (tiny header), copy=False
  * protocol    FRAME messages through ``void_nuke.protocol`` (msgpack header, validation on
                receipt, zero-copy image view) with credit-based flow control, as the client
                uploads to the server
The ratio protocol / raw pyzmq is what the protocol costs; aim >= 0.7.

    python bench/bench_transport.py [--frames2k 60] [--frames4k 20]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from typing import Dict, Tuple

import numpy as np
import zmq

SIZES = {"2048x1080": (1080, 2048), "3840x2160": (2160, 3840)}
CREDITS = 4


def receiver(endpoint: str, mode: str, count: int) -> None:
    """Receive ``count`` frames; in protocol mode decode, validate and grant credit back."""
    from void_nuke.protocol import CREDIT, Message, decode, encode, image_from_message

    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVHWM, CREDITS + 2)
    sock.connect(endpoint)
    for _ in range(count):
        frames = sock.recv_multipart(copy=False)
        identity = frames[0].bytes
        if mode == "protocol":
            msg = decode(frames[1:])
            image = image_from_message(msg)
            assert image.pixels.shape[2] == 4
            sock.send_multipart([identity] + encode(Message(CREDIT, msg.job, {"n": 1})))
        else:
            assert frames[2].buffer.nbytes > 0
    sock.send_multipart([identity, b"bye"])
    sock.close(0)
    ctx.term()


def send_frames(mode: str, frame: np.ndarray, count: int) -> float:
    """Seconds to push ``count`` frames to a receiver process and hear it finish."""
    from void_nuke.exrio import make_spec
    from void_nuke.protocol import FRAME, Message, decode, encode, image_body

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, CREDITS + 2)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    proc = mp.get_context("spawn").Process(target=receiver, args=(f"tcp://127.0.0.1:{port}", mode, count))
    proc.start()
    time.sleep(0.5)  # let the receiver connect
    h, w, c = frame.shape
    spec = make_spec(w, h, ("R", "G", "B", "A"), "float16")
    t0 = time.perf_counter()
    if mode == "protocol":
        in_flight = 0
        for i in range(count):
            while in_flight >= CREDITS:
                decode(sock.recv_multipart(copy=False))
                in_flight -= 1
            body = image_body(spec, role="plate", frame=1001 + i)
            sock.send_multipart(encode(Message(FRAME, "bench", body, [frame], seq=i + 1)), copy=False)
            in_flight += 1
        while in_flight:
            decode(sock.recv_multipart(copy=False))
            in_flight -= 1
    else:
        for i in range(count):
            sock.send_multipart([b"hdr", frame], copy=False)
    sock.recv_multipart()  # "bye"
    elapsed = time.perf_counter() - t0
    proc.join()
    sock.close(0)
    ctx.term()
    return elapsed


def memcpy_rate(frame: np.ndarray, count: int) -> float:
    dst = np.empty_like(frame)
    t0 = time.perf_counter()
    for _ in range(count):
        np.copyto(dst, frame)
    return count / (time.perf_counter() - t0)


def bench(name: str, shape: Tuple[int, int], count: int) -> Dict[str, float]:
    rng = np.random.default_rng(0)
    frame = rng.random((shape[0], shape[1], 4), dtype=np.float32).astype(np.float16)
    raw = count / send_frames("raw", frame, count)
    proto = count / send_frames("protocol", frame, count)
    copy = memcpy_rate(frame, count * 4)
    gb = frame.nbytes / 1e9
    print(f"{name} RGBA half ({frame.nbytes / 1e6:.1f} MB/frame, {count} frames)")
    print(f"  memcpy         {copy:8.1f} frames/s  {copy * gb:6.2f} GB/s")
    print(f"  raw pyzmq      {raw:8.1f} frames/s  {raw * gb:6.2f} GB/s")
    print(f"  protocol       {proto:8.1f} frames/s  {proto * gb:6.2f} GB/s")
    print(f"  ratio protocol/raw pyzmq = {proto / raw:.2f}   protocol/memcpy = {proto / copy:.3f}")
    return {"raw": raw, "protocol": proto, "memcpy": copy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames2k", type=int, default=60)
    parser.add_argument("--frames4k", type=int, default=20)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  "
          f"cores={mp.cpu_count()}  pyzmq {zmq.__version__} libzmq {zmq.zmq_version()}")
    bench("2048x1080", SIZES["2048x1080"], args.frames2k)
    bench("3840x2160", SIZES["3840x2160"], args.frames4k)


if __name__ == "__main__":
    main()
