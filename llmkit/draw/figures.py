"""A run's statistics drawn onto a pipeline's diagram: per node its calls, mean batch size,
cache hit rate, p50/p95 call time and share of the wall time it was busy (a call of it
running); the fill and bar of each box show that share, and the node with the largest is
marked the bottleneck. Without a wall time, the share is of the time spent in calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from llmkit.draw.model import Diagram

__all__ = ["Stats", "annotate"]


class Stats(Protocol):
    """What is read of a node's statistics (`llmkit.core.stats.NodeStats` has it)."""

    calls: int
    errors: int
    cache_hits: int
    cache_misses: int
    seconds: float
    busy_seconds: float

    @property
    def mean_batch(self) -> float: ...

    def percentile(self, q: float) -> float: ...


def annotate(diagram: Diagram, stats: Mapping[str, Stats], wall: float = 0.0) -> Diagram:
    """`diagram` with the figures of `stats` (node name → statistics) in its node boxes;
    `wall`: the run's wall time in seconds (0: unknown)."""
    total = sum(s.seconds for s in stats.values())
    busy = {n: s.busy_seconds if wall > 0 else s.seconds for n, s in stats.items()}
    slowest = max(busy, key=busy.__getitem__) if total > 0 else None
    whole = wall if wall > 0 else total
    boxes = []
    for box in diagram.boxes:
        name = box.id.removeprefix("node:")
        if box.kind != "node":
            boxes.append(box)
        elif name not in stats:
            boxes.append(dataclasses.replace(box, lines=("not run",), heat=0.0))
        else:
            share = min(1.0, busy[name] / whole) if total > 0 else 0.0
            boxes.append(dataclasses.replace(
                box, lines=_lines(stats[name], share, "of wall time" if wall > 0 else
                                  "of call time"), heat=share,
                mark="bottleneck" if name == slowest else ""))
    if total <= 0:
        caption = "No time was spent in calls."
    elif wall > 0:
        caption = (f"Fill and bar: the share of the {_duration(wall)} wall time each node was "
                   "busy (a call of it running).")
    else:
        caption = f"Fill and bar: each node's share of the {_duration(total)} spent in calls."
    return dataclasses.replace(diagram, boxes=tuple(boxes), caption=caption)


def _lines(s: Stats, share: float, of: str) -> tuple[str, ...]:
    lookups = s.cache_hits + s.cache_misses
    lines = [f"{s.calls} call{'s' if s.calls != 1 else ''} · batch {s.mean_batch:.1f}",
             f"cache hits {s.cache_hits / lookups:.0%}" if lookups else "no cache",
             f"p50 {_duration(s.percentile(0.5))} · p95 {_duration(s.percentile(0.95))}",
             f"{share:.0%} {of}"]
    if s.errors:
        lines.append(f"{s.errors} error{'s' if s.errors != 1 else ''}")
    return tuple(lines)


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1e3
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms"
