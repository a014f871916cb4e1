"""EXR frames in and out: OpenImageIO for headers, the OpenEXR library for EXR pixels.

Pixels are numpy arrays ``(H, W, C)`` covering the *data window*, top row
first, in the file's own pixel type (half → float16, float → float32), so a
plate read and written back is bit-identical. The data and display windows,
channel names and header attributes travel with the pixels in ``ImageSpec``.
Writes are atomic (see ``atomic``).

Speed: where the ``openexr`` package (the OpenEXR project's own Python
bindings) is installed, EXR pixels are decoded and encoded by it, one plane per
channel; it compresses and decompresses about twice as fast as the OpenEXR
inside OpenImageIO's wheel. Headers are always read by OpenImageIO, so the
``ImageSpec`` is the same either way. Files the bindings cannot take exactly
(tiled, multi-part, deep, subsampled or integer channels; attributes without a
known EXR name) go through OpenImageIO, as does everything without ``openexr``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .atomic import atomic_path
from .errors import ImageError

try:
    import OpenImageIO as oiio
except ImportError:  # pragma: no cover - depends on the install
    oiio = None
try:
    import OpenEXR
except ImportError:  # pragma: no cover - depends on the install
    OpenEXR = None

DTYPES = ("float16", "float32")
Attr = Any

USE_OPENEXR = OpenEXR is not None
"""Decode and encode EXR pixels with the OpenEXR bindings where they give the same file."""
EXR_THREADS = os.cpu_count() or 1
"""Threads the OpenEXR bindings use per file (they hold the GIL, so they parallelise inside)."""
_EXR_COMPRESSION = {"none": "NO_COMPRESSION", "rle": "RLE_COMPRESSION", "zips": "ZIPS_COMPRESSION",
                    "zip": "ZIP_COMPRESSION", "piz": "PIZ_COMPRESSION", "pxr24": "PXR24_COMPRESSION",
                    "b44": "B44_COMPRESSION", "b44a": "B44A_COMPRESSION", "dwaa": "DWAA_COMPRESSION",
                    "dwab": "DWAB_COMPRESSION"}
_EXR_NAMES = {"DateTime": "capDate", "ImageDescription": "comments", "Copyright": "owner",
              "PixelAspectRatio": "pixelAspectRatio", "ExposureTime": "expTime", "FNumber": "aperture",
              "screenWindowWidth": "screenWindowWidth"}
"""OpenImageIO's names of standard EXR attributes → the names in the file."""
_LINE_ORDERS = {"increasingY": "INCREASING_Y", "decreasingY": "DECREASING_Y", "randomY": "RANDOM_Y"}
_OIIO_NAMESPACES = ("openexr:", "Exif:", "GPS:", "IPTC:", "XMP:", "smpte:", "ICCProfile", "photoshop:",
                    "tiff:", "jpeg:", "png:")
_NOT_WRITTEN = ("compression", "oiio:ColorSpace")


def _need_oiio() -> None:
    if oiio is None:
        raise ImageError("OpenImageIO is not installed in this Python; install it with "
                         "'python -m pip install OpenImageIO' (see docs/nuke.md for Nuke's Python)")


@dataclass(frozen=True)
class ImageSpec:
    """Geometry, channels and metadata of one frame."""

    width: int
    height: int
    channels: Tuple[str, ...]
    dtype: str = "float16"
    x: int = 0
    y: int = 0
    full_width: int = 0
    full_height: int = 0
    full_x: int = 0
    full_y: int = 0
    attributes: Dict[str, Attr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ImageError(f"unsupported pixel type {self.dtype!r}; use float16 or float32")
        if self.width <= 0 or self.height <= 0 or not self.channels:
            raise ImageError(f"empty image: {self.width}x{self.height} with channels {self.channels}")
        if not self.full_width:
            object.__setattr__(self, "full_width", self.width)
        if not self.full_height:
            object.__setattr__(self, "full_height", self.height)

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (self.height, self.width, len(self.channels))

    @property
    def data_window(self) -> Tuple[int, int, int, int]:
        """(x, y, width, height) of the pixels, in display coordinates (y down)."""
        return (self.x, self.y, self.width, self.height)

    @property
    def display_window(self) -> Tuple[int, int, int, int]:
        return (self.full_x, self.full_y, self.full_width, self.full_height)

    def channel_index(self, name: str) -> int:
        try:
            return self.channels.index(name)
        except ValueError:
            raise ImageError(f"no channel {name!r}; the image has {', '.join(self.channels)}") from None

    def to_dict(self) -> Dict[str, Any]:
        return {"width": self.width, "height": self.height, "channels": list(self.channels),
                "dtype": self.dtype, "x": self.x, "y": self.y, "full_width": self.full_width,
                "full_height": self.full_height, "full_x": self.full_x, "full_y": self.full_y,
                "attributes": dict(self.attributes)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ImageSpec":
        try:
            return cls(width=int(data["width"]), height=int(data["height"]),
                       channels=tuple(str(c) for c in data["channels"]), dtype=str(data["dtype"]),
                       x=int(data.get("x", 0)), y=int(data.get("y", 0)),
                       full_width=int(data.get("full_width", 0)), full_height=int(data.get("full_height", 0)),
                       full_x=int(data.get("full_x", 0)), full_y=int(data.get("full_y", 0)),
                       attributes=dict(data.get("attributes") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"bad image description: {exc}") from None


@dataclass
class Image:
    """Pixels plus their spec. ``pixels.shape == spec.shape``."""

    pixels: np.ndarray
    spec: ImageSpec

    def __post_init__(self) -> None:
        if self.pixels.shape != self.spec.shape:
            raise ImageError(f"pixels {self.pixels.shape} do not match the spec {self.spec.shape}")
        if str(self.pixels.dtype) != self.spec.dtype:
            raise ImageError(f"pixels are {self.pixels.dtype} but the spec says {self.spec.dtype}")

    def channel(self, name: str) -> np.ndarray:
        return self.pixels[:, :, self.spec.channel_index(name)]

    def rgb(self) -> np.ndarray:
        """R, G, B as float32 ``(H, W, 3)`` (missing channels read as 0)."""
        out = np.zeros(self.pixels.shape[:2] + (3,), np.float32)
        for i, name in enumerate(("R", "G", "B")):
            if name in self.spec.channels:
                out[:, :, i] = self.channel(name)
        return out


def _dtype_of(spec: "oiio.ImageSpec") -> str:
    formats = list(spec.channelformats) or [spec.format]
    return "float16" if all(f == oiio.HALF for f in formats) else "float32"


def _attributes(spec: "oiio.ImageSpec") -> Dict[str, Attr]:
    attrs: Dict[str, Attr] = {}
    for param in spec.extra_attribs:
        value = param.value
        if isinstance(value, (str, int, float)):
            attrs[param.name] = value
    return attrs


def _open(path: str) -> "oiio.ImageInput":
    _need_oiio()
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise ImageError(f"cannot open {path}: {oiio.geterror() or 'no such file'}")
    return inp


def read_spec(path: str) -> ImageSpec:
    """Read only the header of an image."""
    return _read_header(path)[0]


def _read_header(path: str) -> Tuple[ImageSpec, bool]:
    """The spec, and whether the OpenEXR bindings can decode the pixels exactly."""
    inp = _open(path)
    try:
        s = inp.spec()
        simple = (USE_OPENEXR and inp.format_name() == "openexr" and s.tile_width == 0 and not s.deep
                  and s.get_int_attribute("oiio:subimages", 1) == 1
                  and all(f in (oiio.HALF, oiio.FLOAT) for f in (list(s.channelformats) or [s.format])))
        return _spec_from_oiio(s), simple
    finally:
        inp.close()


def _spec_from_oiio(s: "oiio.ImageSpec") -> ImageSpec:
    return ImageSpec(width=s.width, height=s.height, channels=tuple(s.channelnames), dtype=_dtype_of(s),
                     x=s.x, y=s.y, full_width=s.full_width, full_height=s.full_height,
                     full_x=s.full_x, full_y=s.full_y, attributes=_attributes(s))


def read_image(path: str, dtype: Optional[str] = None) -> Image:
    """Read the first subimage of ``path`` with all channels, in its own pixel type (or ``dtype``)."""
    spec, simple = _read_header(path)
    if dtype:
        spec = replace(spec, dtype=dtype)
    pixels = _decode_openexr(path, spec) if simple else None
    if pixels is None:
        pixels = _decode_oiio(path, spec)
    return Image(pixels, spec)


def _decode_openexr(path: str, spec: ImageSpec) -> Optional[np.ndarray]:
    """Pixels through the OpenEXR bindings, or None where they do not give exactly ``spec``.

    Plain RGB and RGBA files decode straight into one interleaved array; any
    other channel set is decoded plane by plane and interleaved here.
    """
    interleaved = spec.channels in (("R", "G", "B"), ("R", "G", "B", "A"))
    try:
        with OpenEXR.File(path, separate_channels=not interleaved, num_threads=EXR_THREADS) as exr:
            planes = {name: channel.pixels for name, channel in exr.channels().items()}
    except Exception:  # let OpenImageIO read it, or say what is wrong with the file
        return None
    if interleaved:
        whole = planes.get("".join(spec.channels))
        if whole is None or whole.shape != spec.shape:
            return None
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(whole, dtype=spec.dtype)
    out = np.empty(spec.shape, spec.dtype)
    for i, name in enumerate(spec.channels):
        plane = planes.get(name)
        if plane is None or plane.shape != (spec.height, spec.width):
            return None
        with np.errstate(over="ignore"):  # float → half: nearest even, ±inf beyond, as OpenImageIO
            out[:, :, i] = plane
    return out


def _decode_oiio(path: str, spec: ImageSpec) -> np.ndarray:
    inp = _open(path)
    try:
        fmt = oiio.HALF if spec.dtype == "float16" else oiio.FLOAT
        pixels = inp.read_image(0, 0, 0, len(spec.channels), fmt)
        if pixels is None:
            raise ImageError(f"cannot read pixels of {path}: {inp.geterror()}")
    finally:
        inp.close()
    return np.ascontiguousarray(pixels.reshape(spec.shape))


def read_matte(path: str, channel: Optional[str] = None) -> Tuple[np.ndarray, ImageSpec]:
    """Read a matte as float32 ``(H, W)``: ``channel``, else alpha, else the only channel."""
    img = read_image(path)
    return matte_from_image(img, channel, path), img.spec


def matte_from_image(img: Image, channel: Optional[str], what: str) -> np.ndarray:
    names = img.spec.channels
    if channel is None:
        if "A" in names:
            channel = "A"
        elif len(names) == 1:
            channel = names[0]
        else:
            raise ImageError(f"{what} has channels {', '.join(names)} but no alpha; name the matte "
                             "channel (e.g. --remove-channel R)")
    return img.channel(channel).astype(np.float32)


def write_image(path: str, image: Image, compression: str = "zip", overwrite: bool = False) -> None:
    """Write ``image`` as an EXR atomically; refuse to replace a file unless ``overwrite``."""
    header = _openexr_header(image.spec, compression) if USE_OPENEXR else None
    if header is None:
        _need_oiio()
    with atomic_path(path, overwrite) as tmp:
        if header is not None:
            _encode_openexr(tmp, image, header, path)
        else:
            _encode_oiio(tmp, image, compression, path)


def _openexr_header(s: ImageSpec, compression: str) -> Optional[Dict[str, Any]]:
    """The EXR header OpenImageIO would write for ``s``, or None where only OpenImageIO knows how.

    OpenImageIO names some standard EXR attributes its own way (``owner`` is
    ``Copyright``); those are mapped back. Attributes in a namespace of its own
    (``Exif:``, ``smpte:``...), plain names it might rename, and values an EXR
    int cannot hold send the frame to OpenImageIO's writer.
    """
    code = _EXR_COMPRESSION.get(compression)
    if code is None:
        return None  # e.g. "dwaa:45", with a level
    header: Dict[str, Any] = {
        "type": OpenEXR.scanlineimage, "compression": getattr(OpenEXR, code),
        "dataWindow": ((s.x, s.y), (s.x + s.width - 1, s.y + s.height - 1)),
        "displayWindow": ((s.full_x, s.full_y), (s.full_x + s.full_width - 1, s.full_y + s.full_height - 1)),
        "lineOrder": OpenEXR.INCREASING_Y, "pixelAspectRatio": 1.0, "screenWindowWidth": 1.0,
        "capDate": time.strftime("%Y:%m:%d %H:%M:%S"),  # as OpenImageIO stamps every file it writes
    }
    for name, value in s.attributes.items():
        if name in _NOT_WRITTEN or name.startswith("oiio:"):
            continue
        if name == "openexr:lineOrder":
            if value not in _LINE_ORDERS:
                return None
            header["lineOrder"] = getattr(OpenEXR, _LINE_ORDERS[value])
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return None
        exr_name = _EXR_NAMES.get(name)
        if exr_name is None:
            if name.startswith(_OIIO_NAMESPACES) or not any(c in name for c in ":/"):
                return None
            exr_name = name  # a studio's own namespaced attribute: void:job_id, nuke/node_hash
        header[exr_name] = _exr_value(value)
    return header


def _exr_value(value: Attr) -> Attr:
    """An int an EXR int attribute (32 bits) cannot hold is written as its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool) and not -2 ** 31 <= value < 2 ** 31:
        return str(value)
    return value


def _encode_openexr(tmp: str, image: Image, header: Dict[str, Any], path: str) -> None:
    planes = {name: np.ascontiguousarray(image.pixels[:, :, i]) for i, name in enumerate(image.spec.channels)}
    try:
        OpenEXR.File(header, planes, num_threads=EXR_THREADS).write(tmp)
    except Exception as exc:
        raise ImageError(f"cannot write {path}: {exc}") from None


def _encode_oiio(tmp: str, image: Image, compression: str, path: str) -> None:
    s = image.spec
    fmt = oiio.HALF if s.dtype == "float16" else oiio.FLOAT
    spec = oiio.ImageSpec(s.width, s.height, len(s.channels), fmt)
    spec.channelnames = tuple(s.channels)
    spec.x, spec.y = s.x, s.y
    spec.full_x, spec.full_y = s.full_x, s.full_y
    spec.full_width, spec.full_height = s.full_width, s.full_height
    if "A" in s.channels:
        spec.alpha_channel = s.channels.index("A")
    spec.attribute("compression", compression)
    for name, value in s.attributes.items():
        if name in _NOT_WRITTEN or name.startswith("oiio:"):
            continue
        spec.attribute(name, _exr_value(value))
    out = oiio.ImageOutput.create(tmp)
    if out is None:
        raise ImageError(f"cannot create an EXR writer: {oiio.geterror()}")
    try:
        if not out.open(tmp, spec):
            raise ImageError(f"cannot write {path}: {out.geterror()}")
        if not out.write_image(np.ascontiguousarray(image.pixels)):
            raise ImageError(f"cannot write pixels of {path}: {out.geterror()}")
    finally:
        out.close()


def write_display_image(path: str, rgb: np.ndarray, compression: Optional[str] = None,
                        overwrite: bool = True) -> None:
    """Write a uint8 (H, W, 3) display-referred picture (PNG, JPEG... by extension) atomically.

    For contact sheets and previews; ``compression`` is OpenImageIO's, e.g. ``"jpeg:90"``.
    """
    _need_oiio()
    rgb = np.ascontiguousarray(rgb, np.uint8)
    spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], rgb.shape[2], oiio.UINT8)
    if compression:
        spec.attribute("Compression", compression)
    with atomic_path(path, overwrite) as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None or not out.open(tmp, spec) or not out.write_image(rgb):
            raise ImageError(f"cannot write {path}: {oiio.geterror() or (out and out.geterror())}")
        out.close()


def make_spec(width: int, height: int, channels: Sequence[str] = ("R", "G", "B", "A"),
              dtype: str = "float16", **kwargs: Any) -> ImageSpec:
    return ImageSpec(width=width, height=height, channels=tuple(channels), dtype=dtype, **kwargs)
