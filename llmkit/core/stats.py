"""Per-node statistics of a run: calls, items, batch sizes, cache hits, call times, tokens.

A `Profile` prints as its table (`print(profile)`) and shows as an HTML table in a notebook.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmkit.core.usage import Usage

if TYPE_CHECKING:
    from os import PathLike

_SAMPLES = 4096  # the most recent call times kept per node, so memory stays flat
_COUNTERS = ("calls", "items", "errors", "cache_hits", "cache_misses", "seconds",
             "prompt_tokens", "completion_tokens", "cost")


@dataclass
class NodeStats:
    """Counters of one node over one or more runs; tokens and cost as the model backends
    reported them (`llmkit.core.usage`)."""

    calls: int = 0
    items: int = 0
    errors: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    _times: list[float] = field(default_factory=list, repr=False)
    # (start, end) of the most recent calls, for `busy_seconds`; older ones are folded into
    # `_folded` seconds, none of it before `_folded_until`
    _spans: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _folded: float = field(default=0.0, repr=False)
    _folded_until: float = field(default=float("-inf"), repr=False)

    def record_call(self, size: int, seconds: float, errors: int,
                    end: float | None = None) -> None:
        """Count one call of `size` items that took `seconds` and ended at `end`
        (`time.perf_counter()`, default now)."""
        self.calls += 1
        self.items += size
        self.errors += errors
        self.seconds += seconds
        if len(self._times) < _SAMPLES:
            self._times.append(seconds)
        else:
            self._times[self.calls % _SAMPLES] = seconds
        end = time.perf_counter() if end is None else end
        self._spans.append((end - seconds, end))
        if len(self._spans) > 2 * _SAMPLES:
            old, self._spans = self._spans[:_SAMPLES], self._spans[_SAMPLES:]
            self._folded, self._folded_until = _union(old, self._folded, self._folded_until)

    @property
    def busy_seconds(self) -> float:
        """Time during which at least one call of the node was running: its calls' total
        time with the overlaps of concurrent calls counted once."""
        return _union(self._spans, self._folded, self._folded_until)[0]

    def record_usage(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += usage.cost

    def merge(self, other: NodeStats) -> None:
        """Add `other`'s counters and call times (a worker's share of a run) to these."""
        for counter in _COUNTERS:
            setattr(self, counter, getattr(self, counter) + getattr(other, counter))
        self._times.extend(other._times[:max(0, _SAMPLES - len(self._times))])
        self._folded += other.busy_seconds  # another process's clock: no overlap known

    @property
    def mean_batch(self) -> float:
        return self.items / self.calls if self.calls else 0.0

    def percentile(self, q: float) -> float:
        """Call time at quantile `q` (0..1) over the last 4096 calls, in seconds."""
        if not self._times:
            return 0.0
        ordered = sorted(self._times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _union(spans: list[tuple[float, float]], seconds: float,
           after: float) -> tuple[float, float]:
    """`seconds` plus the length of the union of `spans` past `after`, and the new `after`."""
    for start, end in sorted(spans):
        start = max(start, after)
        if end > start:
            seconds += end - start
            after = end
    return seconds, after


@dataclass
class Profile:
    """Statistics by node name; pass one as `profile=` to `run_many` and print it after.
    `wall_seconds` is the time some call that fills it was running (run_many, arun, ...)."""

    nodes: dict[str, NodeStats] = field(default_factory=dict)
    _wall: float = field(default=0.0, repr=False)
    _open: int = field(default=0, repr=False)  # callers filling it now
    _since: float = field(default=0.0, repr=False)

    def node(self, name: str) -> NodeStats:
        return self.nodes.setdefault(name, NodeStats())

    def enter(self) -> None:
        """A caller starts filling this profile (the scheduler calls it)."""
        if self._open == 0:
            self._since = time.perf_counter()
        self._open += 1

    def exit(self) -> None:
        """That caller is done."""
        self._open -= 1
        if self._open == 0:
            self._wall += time.perf_counter() - self._since

    @property
    def wall_seconds(self) -> float:
        """Time during which at least one caller was filling this profile."""
        return self._wall + (time.perf_counter() - self._since if self._open else 0.0)

    @property
    def usage(self) -> Usage:
        """Tokens and cost summed over every node."""
        total = Usage()
        for s in self.nodes.values():
            total.add(Usage(s.prompt_tokens, s.completion_tokens, s.cost))
        return total

    @property
    def tokens(self) -> int:
        """Prompt and completion tokens of every node."""
        return self.usage.total_tokens

    def rows(self) -> list[list[str]]:
        """The table's header and one row per node (token columns when any node spent
        tokens, cost when a price was set), as text."""
        usage = self.usage
        head = ["node", "calls", "items", "batch", "hits", "misses", "errors", "p50 ms",
                "p95 ms"]
        if usage.total_tokens:
            head += ["prompt tok", "compl tok"]
        if usage.cost:
            head.append("cost")
        rows = [head]
        for name, s in self.nodes.items():
            row = [name, str(s.calls), str(s.items), f"{s.mean_batch:.1f}", str(s.cache_hits),
                   str(s.cache_misses), str(s.errors), f"{s.percentile(0.5) * 1e3:.2f}",
                   f"{s.percentile(0.95) * 1e3:.2f}"]
            if usage.total_tokens:
                row += [str(s.prompt_tokens), str(s.completion_tokens)]
            if usage.cost:
                row.append(f"{s.cost:.4f}")
            rows.append(row)
        return rows

    def table(self) -> str:
        """A fixed-width table: one row per node."""
        head, *body = self.rows()
        widths = [20] + [max(7, len(h)) for h in head[1:]]
        lines = [" ".join(f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
                          for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                 for row in [head, *body]]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)

    __str__ = table

    def _repr_html_(self) -> str:
        """The table, for notebooks."""
        head, *body = self.rows()
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        rows = "".join("<tr>" + "".join(
            f"<td>{html.escape(c)}</td>" if i == 0 else f'<td style="text-align:right">{c}</td>'
            for i, c in enumerate(row)) + "</tr>" for row in body)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"

    def draw(self, pipeline: Any, path: str | PathLike[str] | None = None, *,
             format: str | None = None) -> str | bytes:
        """`pipeline.draw(path, format=...)` (a `Pipeline`; not imported here, which imports
        this module) with this profile's figures on its nodes."""
        return pipeline.draw(path, format=format, profile=self)
