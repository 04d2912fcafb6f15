"""Per-node statistics of a run: calls, items, batch sizes, cache hits, call times."""

from __future__ import annotations

from dataclasses import dataclass, field

_SAMPLES = 4096  # the most recent call times kept per node, so memory stays flat


@dataclass
class NodeStats:
    """Counters of one node over one or more runs."""

    calls: int = 0
    items: int = 0
    errors: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    seconds: float = 0.0
    _times: list[float] = field(default_factory=list, repr=False)

    def record_call(self, size: int, seconds: float, errors: int) -> None:
        self.calls += 1
        self.items += size
        self.errors += errors
        self.seconds += seconds
        if len(self._times) < _SAMPLES:
            self._times.append(seconds)
        else:
            self._times[self.calls % _SAMPLES] = seconds

    @property
    def mean_batch(self) -> float:
        return self.items / self.calls if self.calls else 0.0

    def percentile(self, q: float) -> float:
        """Call time at quantile `q` (0..1) over the last 4096 calls, in seconds."""
        if not self._times:
            return 0.0
        ordered = sorted(self._times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Profile:
    """Statistics by node name; pass one as `profile=` to `run_many` and print it after."""

    nodes: dict[str, NodeStats] = field(default_factory=dict)

    def node(self, name: str) -> NodeStats:
        return self.nodes.setdefault(name, NodeStats())

    def table(self) -> str:
        """A fixed-width table: one row per node."""
        head = (f"{'node':<20} {'calls':>7} {'items':>8} {'batch':>7} {'hits':>7} "
                f"{'misses':>7} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}")
        rows = [head, "-" * len(head)]
        for name, s in self.nodes.items():
            rows.append(
                f"{name:<20} {s.calls:>7} {s.items:>8} {s.mean_batch:>7.1f} {s.cache_hits:>7} "
                f"{s.cache_misses:>7} {s.errors:>6} {s.percentile(0.5) * 1e3:>8.2f} "
                f"{s.percentile(0.95) * 1e3:>8.2f}")
        return "\n".join(rows)
