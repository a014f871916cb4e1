"""Wire format: round trips, zero-copy buffers, and every malformed input refused clearly."""
from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq

from void_nuke.errors import ProtocolError
from void_nuke.exrio import make_spec
from void_nuke.protocol import (FRAME, HELLO, MAX_HEADER_BYTES, PROTOCOL_VERSION, STATUS, Message, decode, encode,
                                image_body, image_from_message)


def header(**over):
    h = {"v": PROTOCOL_VERSION, "type": HELLO, "job": None, "seq": 1, "re": 0, "body": {}, "buffers": []}
    h.update(over)
    return msgpack.packb(h)


def test_round_trip_with_image_buffer():
    pixels = np.random.default_rng(0).random((6, 5, 4)).astype(np.float16)
    spec = make_spec(5, 6, attributes={"void:frame": 1001})
    msg = Message(FRAME, "job-1", image_body(spec, role="plate", frame=1001), [pixels], seq=3)
    back = decode([bytes(memoryview(f)) for f in encode(msg)])
    assert (back.type, back.job, back.seq, back.body["frame"]) == (FRAME, "job-1", 3, 1001)
    image = image_from_message(back)
    assert image.pixels.tobytes() == pixels.tobytes() and image.spec == spec


def test_received_pixels_are_not_copied():
    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://zc")
    b.connect("inproc://zc")
    pixels = np.ones((256, 512, 4), np.float16)  # above zmq's copy threshold
    a.send_multipart(encode(Message(FRAME, "j", image_body(make_spec(512, 256)), [pixels])), copy=False)
    frames = b.recv_multipart(copy=False)
    got = decode(frames).buffers[0]
    assert got.ctypes.data == np.frombuffer(frames[1].buffer, np.uint8).ctypes.data
    a.close(0), b.close(0), ctx.term()


@pytest.mark.parametrize("frames, code, words", [
    ([], "protocol", "empty"),
    ([b"\xc1\xff garbage"], "malformed", "not msgpack"),
    ([msgpack.packb([1, 2])], "malformed", "must be a map"),
    ([header(v=99)], "version_mismatch", "matching void-nuke versions"),
    ([header(type="EXPLODE")], "unknown_type", "EXPLODE"),
    ([header(seq="x")], "malformed", "wrong type"),
    ([header(buffers=[{"dtype": "float16", "shape": [2, 2]}])], "truncated", "truncated"),
    ([header(buffers=[{"dtype": "float16", "shape": [2, 2]}]), b"\0" * 6], "truncated", "says 8"),
    ([header(buffers=[{"dtype": "int64", "shape": [1]}]), b"\0" * 8], "malformed", "unsupported"),
    ([header(buffers=[{"dtype": "uint8", "shape": [0]}]), b""], "malformed", "bad buffer shape"),
    ([header(buffers=[{"dtype": "uint8", "shape": [1, 1, 500]}]), b"\0" * 500], "oversized", "channels"),
    ([b"\0" * (MAX_HEADER_BYTES + 1)], "oversized", "limit"),
])
def test_malformed_messages_are_refused_with_a_clear_error(frames, code, words):
    with pytest.raises(ProtocolError) as err:
        decode(frames)
    assert err.value.code == code
    assert words in err.value.message


def test_unaligned_buffers_are_realigned():
    pixels = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    frames = encode(Message(FRAME, "j", image_body(make_spec(3, 2)), [pixels]))
    odd = memoryview(b"\0" + pixels.tobytes())[1:]  # starts at an odd address
    assert not np.frombuffer(odd, np.float16).flags.aligned
    got = decode([frames[0], odd]).buffers[0]
    assert got.flags.aligned and np.array_equal(got, pixels)
    assert memoryview(got).format == "e"


def test_image_messages_must_match_their_spec():
    msg = Message(FRAME, "j", image_body(make_spec(5, 6)), [np.zeros((6, 5, 3), np.float16)])
    with pytest.raises(ProtocolError, match="do not match"):
        image_from_message(decode(encode(msg)))


def test_server_survives_malformed_input_and_keeps_answering(server):
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.address)
    bad_inputs = [[b"garbage"], [header(v=0)], [header(type="NOPE")],
                  [header(type=FRAME, job="missing", buffers=[{"dtype": "uint8", "shape": [4]}]), b"\0" * 4],
                  [header(type=STATUS, job="no-such-job")], [header(type="PROGRESS")]]
    codes = []
    for frames in bad_inputs:
        sock.send_multipart(frames)
        assert sock.poll(10000), "the server stopped answering"
        reply = decode(sock.recv_multipart())
        assert reply.type == "ERROR" and reply.body["message"]
        codes.append(reply.body["code"])
    assert codes == ["malformed", "version_mismatch", "unknown_type", "unknown_job", "unknown_job",
                     "unexpected_type"]
    sock.send_multipart(encode(Message(HELLO, body={})))
    assert sock.poll(10000)
    hello = decode(sock.recv_multipart())
    assert hello.type == HELLO and hello.body["protocol"] == PROTOCOL_VERSION
    sock.close(0)
