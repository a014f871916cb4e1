"""The stale check on a big comp: calls into Nuke and CPU time, against the first release's hash.

    python bench/bench_stale_hash.py [--nodes 1000] [--shapes 40] [--keys 100]

Runs against the test suite's fake ``nuke`` (no Nuke here), on a comp of
``--nodes`` nodes upstream of a VOID node (Grades, Blurs, Transforms, Dots)
plus a Roto of ``--shapes`` shapes keyed on ``--keys`` frames. It prints, for
the check as shipped (``state_hash``: one ``Node.writeKnobs`` per node) and for
the baseline measured in the same run (the first release's: one
``Knob.toScript`` per knob of every node), the number of calls into Nuke's
API and the CPU time, and the ratios. In Nuke each of those calls crosses
from Python into C++, so the call count is the figure that carries over;
the fake's CPU time is Python's own.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "nuke" / "fake_nuke"))

import nuke  # noqa: E402  (the fake, from the path above)
import nuke.rotopaint as rp  # noqa: E402

from void_nuke.nuke.node import RESULT_KNOBS, create_void_node  # noqa: E402
from void_nuke.nuke.state import state_hash, upstream  # noqa: E402


def build(nodes: int, shapes: int, keys: int) -> object:
    nuke._reset()
    roto = nuke.nodes.Roto()
    roto["format"].setValue(nuke.Format(1920, 1080))
    for s in range(shapes):
        shape = rp.Shape(None, (10 + s, 10), (200, 10), (200, 200), (10 + s, 200), name=f"Bezier{s}")
        for k in range(keys):
            shape[0].center.addPositionKey(1001 + k, (10.0 + s + k, 10.0))
        roto["curves"].rootLayer.append(shape)
    classes = ("Grade", "Blur", "Transform", "Dot")
    previous = nuke.nodes.Constant()
    for i in range(nodes):
        node = getattr(nuke.nodes, classes[i % len(classes)])()
        node.setInput(0, previous)
        previous = node
    group = create_void_node()
    group.setInput(0, previous)
    group.setInput(1, roto)
    return group


def first_release_hash(group: object) -> str:
    """The baseline: every knob of every upstream node through ``toScript``, one call each."""
    h = hashlib.sha256()
    for name in RESULT_KNOBS:
        h.update(group[name].toScript().encode())
    for i in range(group.inputs()):
        for node in upstream([group.input(i)]):
            knobs = node.knobs()
            h.update(node.Class().encode())
            for name in sorted(knobs):
                h.update(f"{name}={knobs[name].toScript()}".encode())
    return h.hexdigest()


class Counter:
    """Counts the calls that would cross into Nuke (``toScript``, ``writeKnobs``), not the fake's own inner ones."""

    def __init__(self) -> None:
        self.calls = 0
        self._depth = 0
        self._patches: list = []

    def __enter__(self) -> "Counter":
        for owner, name in ((nuke.Knob, "toScript"), (nuke.Node, "writeKnobs"), (rp.CurveKnob, "toScript")):
            original = getattr(owner, name)
            self._patches.append((owner, name, original))

            def counted(*args, _original=original, **kwargs):
                self.calls += self._depth == 0
                self._depth += 1
                try:
                    return _original(*args, **kwargs)
                finally:
                    self._depth -= 1
            setattr(owner, name, counted)
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self._patches:
            setattr(owner, name, original)


def measure(check, group: object, repeat: int) -> tuple:
    """(calls into Nuke, CPU per check, CPU per check of void-nuke's own Python with Nuke's answers cached)."""
    with Counter() as counter:
        check(group)
    start = time.process_time()
    for _ in range(repeat):
        check(group)
    total = (time.process_time() - start) / repeat
    cache: dict = {}
    patched = []
    for owner, name in ((nuke.Knob, "toScript"), (nuke.Node, "writeKnobs"), (rp.CurveKnob, "toScript")):
        original = getattr(owner, name)
        patched.append((owner, name, original))

        def cached(this, *args, _original=original, _name=name):
            key = (id(this), _name, args)
            if key not in cache:
                cache[key] = _original(this, *args)
            return cache[key]
        setattr(owner, name, cached)
    try:
        check(group)
        start = time.process_time()
        for _ in range(repeat):
            check(group)
        own = (time.process_time() - start) / repeat
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
    return counter.calls, total, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--shapes", type=int, default=40)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    group = build(args.nodes, args.shapes, args.keys)
    new_calls, new_cpu, new_own = measure(state_hash, group, args.repeat)
    old_calls, old_cpu, old_own = measure(first_release_hash, group, args.repeat)
    print(f"comp: {args.nodes} nodes, a Roto of {args.shapes} shapes x {args.keys} keys (fake nuke)")
    for name, calls, cpu, own in (("state_hash", new_calls, new_cpu, new_own),
                                  ("first release", old_calls, old_cpu, old_own)):
        print(f"{name:13s}: {calls:6d} calls into Nuke; CPU per check {cpu * 1000:7.1f} ms with the fake's "
              f"answers, {own * 1000:7.1f} ms of void-nuke's own Python")
    print(f"ratio (first release / now): calls {old_calls / new_calls:.1f}x, own CPU {old_own / new_own:.2f}x")


if __name__ == "__main__":
    main()
