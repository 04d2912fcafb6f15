"""What a route costs: 10,000 runs of an inline 3-node chain, next to the same chain with a
route in the middle (condition `x % 10 < 3`) whose two branches join in a coalesce.

    python -m bench.routes [--runs 10000]

Prints microseconds per run for both and the difference per routed run (the condition, the
skipped node, the join), and the condition alone, evaluated in a loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.overhead import best_of
from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.nodes.control.nodes import Coalesce, Route


@node(outputs="x", inline=True)
def step(x):
    return x


def plain() -> Pipeline:
    return (Pipeline(inputs=["x"]).add("a", step, x="x").add("b", step, x="a.x")
            .add("c", step, x="b.x").outputs(x="c.x"))


def routed() -> Pipeline:
    return (Pipeline(inputs=["x"]).add("a", step, x="x")
            .add("route", Route({"low": "x % 10 < 3"}, default="high"), x="a.x")
            .add("b", step, x="route.low")
            .add("join", Coalesce(), b="b.x", high="route.high")
            .add("c", step, x="join.value").outputs(x="c.x"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    runs = parser.parse_args().runs
    inputs = [{"x": x} for x in range(runs)]
    seconds = {}
    for name, p in (("plain chain", plain()), ("with a route", routed())):
        assert p.run_many(inputs[:10]) == [{"x": x} for x in range(10)]
        seconds[name] = best_of(3, lambda p=p: p.run_many(inputs))
        print(f"{name:14} {seconds[name] / runs * 1e6:7.2f} µs per run")
    extra = (seconds["with a route"] - seconds["plain chain"]) / runs * 1e6
    print(f"a route and its join add {extra:.2f} µs per run")
    route = Route({"low": "x % 10 < 3"}, default="high")
    started = time.perf_counter()
    for x in range(runs):
        route.run(x=x)
    print(f"the condition alone: {(time.perf_counter() - started) / runs * 1e6:.2f} µs per item")


if __name__ == "__main__":
    main()
