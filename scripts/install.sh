#!/usr/bin/env bash
# Create the development environments from nothing but this repository.
#   .venv    Python 3.10+ with everything: client, server (CPU torch), panel, farm, tests
#   .venv39  Python 3.9 with the client and farm submitters only, as inside Nuke 14 (no torch)
set -euo pipefail
cd "$(dirname "$0")/.."

# find_python X.Y: an interpreter of that version that really runs (pyenv shims on the PATH may not)
find_python() {
    if "python$1" -c "import sys" >/dev/null 2>&1; then
        command -v "python$1"
    elif command -v pyenv >/dev/null 2>&1; then
        ls -d "$(pyenv root)"/versions/"$1".*/bin/"python$1" 2>/dev/null | sort -V | tail -n 1
    fi
}

PYTHON="${PYTHON:-$(find_python 3.11)}"
PYTHON39="${PYTHON39:-$(find_python 3.9)}"
[ -n "$PYTHON" ] || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ scripts/install.sh -nt .venv/.installed ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    # torch first, pinned: an unpinned torch requirement pulls a multi-gigabyte CUDA build.
    .venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
    .venv/bin/python -m pip install -q -e ".[server,panel,farm,video,dev]"
    # sam2 lists torch as a build requirement; build it against the torch above.
    SAM2_BUILD_CUDA=0 .venv/bin/python -m pip install -q --no-build-isolation --no-deps "sam2==1.1.0"
    touch .venv/.installed
fi

if [ -n "$PYTHON39" ]; then
    if [ ! -f .venv39/.installed ] || [ pyproject.toml -nt .venv39/.installed ] || [ scripts/install.sh -nt .venv39/.installed ]; then
        "$PYTHON39" -m venv .venv39
        .venv39/bin/python -m pip install -q --upgrade pip
        # PySide2 (Qt 5, as in Nuke 14-15) needs numpy 1.x and a pytest-qt that still supports it
        .venv39/bin/python -m pip install -q -e ".[farm]" "numpy<2" "pytest>=8" "pytest-qt<4.3" "pytest-timeout>=2.3" \
            "hypothesis>=6.100" "PySide2==5.15.2.1"
        touch .venv39/.installed
    fi
else
    echo "note: Python 3.9 not found; the Python 3.9 (Nuke 14) client tests will not run" >&2
fi
