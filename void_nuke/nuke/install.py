"""Install the VOID client's dependencies for Nuke's own Python, in one command.

    "<Nuke folder>/python3" -m void_nuke.nuke.install        (Linux, macOS; python.exe on Windows)
    python <repo>/void_nuke/nuke/install.py --python "<Nuke folder>/python3"

Only what that Python lacks is installed (Nuke ships numpy and must keep its
own), with ``--no-deps``, into a folder per Python version
(``~/.nuke/void-nuke/py311``, or ``VOID_NUKE_SITE``) that ``gizmos/init.py``
puts on ``sys.path``. Nothing is written into Nuke's install. Standard library
only: this runs before anything else is there.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import List, Optional, Sequence, Tuple

REQUIREMENTS: Tuple[Tuple[str, str], ...] = (
    ("numpy", "numpy>=1.24"),
    ("zmq", "pyzmq>=25"),
    ("msgpack", "msgpack>=1.0"),
    ("fileseq", "fileseq>=2.0"),
    ("OpenImageIO", "OpenImageIO>=3.0"),
    ("OpenEXR", "openexr>=3.3"),
    ("tomli_w", "tomli-w>=1.0"),
    ("yaml", "pyyaml>=6.0"),
)
"""(import name, pip requirement): the client's dependencies, none of which has dependencies
of its own except OpenImageIO and openexr (numpy, listed). The command line's progress bar
(tqdm) is left out: Nuke shows progress on the node and in the panel."""
PY310_REQUIREMENTS = (("tomli", "tomli>=2.0"),)


def site_dir(version: Tuple[int, int] = (sys.version_info[0], sys.version_info[1])) -> str:
    """The folder the dependencies go to for one Python version."""
    base = os.environ.get("VOID_NUKE_SITE") or os.path.join(os.path.expanduser("~"), ".nuke", "void-nuke")
    return os.path.join(base, f"py{version[0]}{version[1]}")


def _probe(python: str, names: Sequence[str], extra_path: str) -> List[str]:
    """The import names ``python`` cannot find (with ``extra_path`` on its path)."""
    code = ("import importlib.util, sys; sys.path.insert(0, sys.argv[1]); "
            "print(' '.join(n for n in sys.argv[2:] if importlib.util.find_spec(n) is None))")
    out = subprocess.run([python, "-c", code, extra_path, *names], check=True, capture_output=True, text=True)
    return out.stdout.split()


def _python_version(python: str) -> Tuple[int, int]:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                         check=True, capture_output=True, text=True)
    major, minor = out.stdout.split()
    return int(major), int(minor)


def plan(python: str, target: Optional[str] = None) -> Tuple[str, List[str]]:
    """(target folder, pip requirements still missing) for ``python``."""
    version = _python_version(python)
    target = target or site_dir(version)
    wanted = list(REQUIREMENTS) + (list(PY310_REQUIREMENTS) if version < (3, 11) else [])
    missing = set(_probe(python, [name for name, _ in wanted], target))
    return target, [spec for name, spec in wanted if name in missing]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="void_nuke.nuke.install", description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="Nuke's Python executable (default: the Python running this)")
    parser.add_argument("--target", help="install folder (default: ~/.nuke/void-nuke/pyXY or VOID_NUKE_SITE)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be installed, install nothing")
    args = parser.parse_args(argv)
    target, missing = plan(args.python, args.target)
    if not missing:
        print(f"Nothing to install: {args.python} already has every dependency (with {target}).")
        return 0
    command = [args.python, "-m", "pip", "install", "--no-deps", "--target", target, *missing]
    print("Installing:", " ".join(missing), "\ninto", target)
    if args.dry_run:
        print("(dry run) would run:", " ".join(command))
        return 0
    os.makedirs(target, exist_ok=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        print("pip failed. If Nuke's Python has no pip, run it once with: "
              f'"{args.python}" -m ensurepip --user', file=sys.stderr)
        return done.returncode
    print(f"Done. gizmos/init.py adds {target} to Nuke's sys.path at start-up.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
