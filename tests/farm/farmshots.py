"""A tiny EXR shot on disk, and shot lists that point at it (helpers for the farm tests)."""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from void_nuke.exrio import Image, make_spec, write_image

W, H = 24, 16
FIRST, LAST = 1001, 1010


def write_tiny_shot(folder: Path, name: str = "sh010", first: int = FIRST, last: int = LAST) -> None:
    """Plate (RGBA, half) and remove matte (A) of a small square moving right; kept if already there."""
    if (folder / f"{name}.{first:04d}.exr").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name))
    base = rng.random((H, W, 3)).astype(np.float32) * 0.5 + 0.1
    for frame in range(first, last + 1):
        x = 3 + frame - first
        matte = np.zeros((H, W, 1), np.float32)
        matte[5:10, x:x + 5] = 1.0
        rgba = np.concatenate([base * (1 - matte) + matte * np.array([0.9, 0.1, 0.1]),
                               np.ones((H, W, 1), np.float32)], axis=2)
        write_image(str(folder / f"{name}.{frame:04d}.exr"), Image(rgba.astype(np.float16), make_spec(W, H)))
        write_image(str(folder / f"{name}_remove.{frame:04d}.exr"),
                    Image(matte.astype(np.float16), make_spec(W, H, ("A",))))


def shot_list_toml(names: List[str], frames: str = f"{FIRST}-{LAST}") -> str:
    entries = "".join(f'\n[[shots]]\nname = "{n}"\nplate = "plates/{n}.####.exr"\n'
                      f'remove = "plates/{n}_remove.####.exr"\n' for n in names)
    return (f'[defaults]\nframes = "{frames}"\nengine = {{ name = "classic" }}\n'
            f'output = {{ directory = "renders" }}\n{entries}')
