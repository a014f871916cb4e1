"""How much one request may ask for: the limits every client-sent list and string is checked against.

Every field a client sends is hostile until checked. These limits keep the
work of one message bounded (a shot of 300,000 frames is refused before any
per-frame work, an ATTACH cannot make the server hold millions of entries) and
sit far above what a real shot needs. They are part of the protocol: the
server reports them in HELLO (``limits``), errors name the limit that was hit,
and docs/security.md lists them.
"""
from __future__ import annotations

MAX_JOB_FRAMES = 10_000
"""Frames one job processes, handles included (about 7 minutes at 24 fps)."""
MAX_FRAME_NUMBER = 99_999_999
"""The largest frame number (eight digits)."""
MAX_FRAMES_TEXT = 64
"""Characters of a frame-range string such as ``1001-1100``."""
MAX_PATH_CHARS = 4096
"""Characters of a file or folder path (Linux's PATH_MAX)."""
MAX_NAME_CHARS = 200
"""Characters of an output name; with the frame number and extension it stays under 255 bytes."""
MAX_TEXT_CHARS = 4000
"""Characters of the prompt (VOID's text encoder reads far fewer tokens)."""
MAX_LABEL_CHARS = 256
"""Characters of short labels: shot and shape names, colour spaces, channels, option keys."""
MAX_MATTES = 16
"""Remove or affected mattes per shot (each)."""
MAX_SHAPES = 1000
"""Roto shapes per shot."""
MAX_SHAPE_POINTS = 200_000
"""Control points of all shapes and keys of a shot together."""
MAX_PROMPTS = 10_000
"""Clicked points, and boxes, for SAM2 (each)."""
MAX_ENGINE_OPTIONS = 64
"""Engine-specific options per shot."""
MAX_IMAGE_ATTRIBUTES = 512
"""Header attributes of one image on the wire."""
MAX_HAVE = MAX_JOB_FRAMES
"""Entries of a ``have`` list (frames a client already holds)."""
MAX_STATUS_JOBS = 500
"""Jobs listed by one server-wide STATUS."""
MAX_CREDITS = 64
"""Credits one CREDIT message may grant."""


def describe() -> dict:
    """The limits as a map, for HELLO and the docs."""
    return {name.lower(): value for name, value in globals().items()
            if name.startswith("MAX_") and isinstance(value, int)}
