"""Property tests: the message decoder and the shot parser take any input and either accept it or
refuse it with their own error, never another exception (which a server would report as ``internal``)."""
from __future__ import annotations

import os

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from void_nuke.errors import ProtocolError, ShotError, VoidError
from void_nuke.protocol import PROTOCOL_VERSION, TYPES, decode, encode
from void_nuke.shot import Shot, check_job_id, check_output_name

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 63, 2 ** 64 - 1), st.floats(),
                    st.text(max_size=40), st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                      max_leaves=20)

VALID = {"plate": "/plates/sh010.####.exr", "frames": "1001-1010", "remove": "/plates/rm.%04d.exr",
         "output": {"directory": "/out/sh010", "name": "clean"}, "handles": [2, 2], "prompt": "A street.",
         "engine": {"name": "classic", "steps": 20}, "masks": {"feather": 4.0},
         "shapes": [{"name": "box", "role": "remove",
                     "keys": [{"frame": 1001, "points": [[1, 1], [9, 1], [9, 9]]}]}],
         "prompts": {"points": [{"frame": 1002, "x": 3, "y": 4}]}}
FIELDS = sorted(VALID) + ["name", "colorspace", "ocio_config", "affected"]


def _nested_paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _nested_paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _nested_paths(value, prefix + (i,))


PATHS = [p for p in _nested_paths(VALID) if p]


def _replaced(data, path, value):
    if len(path) == 1:
        out = dict(data) if isinstance(data, dict) else list(data)
        out[path[0]] = value
        return out
    out = dict(data) if isinstance(data, dict) else list(data)
    out[path[0]] = _replaced(data[path[0]], path[1:], value)
    return out


def _parse(data):
    try:
        return Shot.from_dict(data)
    except ShotError:
        return None


@SETTINGS
@given(st.sampled_from(PATHS), values)
def test_any_value_in_any_shot_field_is_accepted_or_refused_as_invalid_shot(path, value):
    shot = _parse(_replaced(VALID, path, value))
    if shot is not None:
        assert Shot.from_dict(shot.to_dict()) == shot
        assert os.path.basename(shot.result_name(shot.process_frames.first)) == shot.result_name(
            shot.process_frames.first)


@SETTINGS
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=6))
def test_any_mix_of_shot_fields_is_accepted_or_refused_as_invalid_shot(changes):
    _parse({**VALID, **changes})


@SETTINGS
@given(st.text(max_size=300))
def test_an_accepted_output_name_never_leaves_its_folder(name):
    try:
        check_output_name(name)
    except ShotError:
        return
    folder = os.path.join(os.sep, "out", "v001")
    path = os.path.normpath(os.path.join(folder, f"{name}.1001.exr"))
    assert os.path.dirname(path) == folder
    assert "\\" not in name and ":" not in name and "\0" not in name and not name.startswith(".")


@SETTINGS
@given(st.text(max_size=80))
def test_job_ids_are_whole_matches(job_id):
    try:
        check_job_id(job_id)
    except ShotError:
        return
    assert job_id.isascii() and "\n" not in job_id and len(job_id) <= 64


@SETTINGS
@given(st.binary(max_size=200), st.lists(st.binary(max_size=32), max_size=3))
def test_the_decoder_refuses_any_bytes_as_a_protocol_error(head, rest):
    try:
        decode([head] + rest)
    except ProtocolError:
        pass


headers = st.fixed_dictionaries({}, optional={
    "v": st.one_of(st.just(PROTOCOL_VERSION), values), "type": st.one_of(st.sampled_from(sorted(TYPES)), values),
    "job": st.one_of(st.none(), st.text(max_size=10), values), "seq": values, "re": values, "body": values,
    "buffers": st.one_of(values, st.lists(st.fixed_dictionaries(
        {"dtype": st.one_of(st.sampled_from(["float16", "float32", "uint8"]), values),
         "shape": st.one_of(st.lists(st.integers(-3, 9), max_size=4), values)}), max_size=2))})


@SETTINGS
@given(headers, st.lists(st.binary(max_size=64), max_size=2))
def test_the_decoder_refuses_any_header_as_a_protocol_error(header, buffers):
    try:
        msg = decode([msgpack.packb(header, use_bin_type=True)] + buffers)
    except ProtocolError:
        return
    assert msg.type in TYPES and isinstance(msg.body, dict)
    assert decode(encode(msg)).body == msg.body


@pytest.mark.parametrize("bad", [{"type": ["HELLO"]}, {"type": {"a": 1}}, {"type": b"HELLO"}, {"type": None},
                                 {"v": [1]}, {"v": True}, {"re": -2 ** 63}, {"job": 12},
                                 {"body": {1: 2}}, {"buffers": [{"dtype": ["x"], "shape": [1]}]}])
def test_headers_with_odd_types_are_protocol_errors(bad):
    header = {"v": PROTOCOL_VERSION, "type": "HELLO", "seq": 1, "re": 0, "body": {}, "buffers": []}
    header.update(bad)
    with pytest.raises(VoidError) as err:
        decode([msgpack.packb(header, use_bin_type=True)])
    assert isinstance(err.value, ProtocolError)


def test_the_largest_sequence_numbers_are_accepted_and_echoed():
    header = {"v": PROTOCOL_VERSION, "type": "HELLO", "seq": 2 ** 64 - 1, "re": 0, "body": {}, "buffers": []}
    assert decode([msgpack.packb(header)]).seq == 2 ** 64 - 1
