"""Write the example plates that docs/examples/shots.toml reads (24 small EXR frames).

    python docs/examples/make_example_plates.py [--frames 24] [--width 320] [--height 180]

A ball rolls across a textured deck and casts a shadow: ``plates/plate.####.exr``
(scene-linear RGBA), ``plates/remove.####.exr`` (the ball) and
``plates/affected.####.exr`` (its shadow), frames 1001 onwards.
"""
from __future__ import annotations

import argparse
import os

from void_nuke.demo import make_synthetic_shot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    args = parser.parse_args()
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plates")
    make_synthetic_shot(folder, frames=args.frames, size=(args.width, args.height))
    print(f"wrote {args.frames} frames of plate, remove and affected mattes to {folder}")


if __name__ == "__main__":
    main()
