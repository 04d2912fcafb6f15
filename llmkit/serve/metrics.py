"""Prometheus metrics of one app: requests by route and status, a latency histogram per
route, requests running pipelines now, and per pipeline and node the calls, items (items /
calls is the mean batch size: batching across requests shows here) and cache hits and
misses, as counted by the pipeline's shared scheduler."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from llmkit.core.pipeline import Pipeline
from llmkit.core.shared import SharedScheduler

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NODE_COUNTERS = (("calls", "node calls (batches)"), ("items", "items the node's calls took"),
                  ("cache_hits", "items answered from the cache"),
                  ("cache_misses", "items the cache did not hold"))


class _NodeTotals:
    """One pipeline's node counters, kept whole across its shared schedulers: one that idled
    out is replaced by a new one, whose counts start again from zero."""

    def __init__(self, p: Pipeline, cache: Any) -> None:
        self.plan = p.validate()
        self.cache = cache
        self.current: Any = None  # the Scheduler whose profile is read live
        self.base: dict[str, dict[str, int]] = {
            n.name: dict.fromkeys((c for c, _ in _NODE_COUNTERS), 0) for n in self.plan.nodes}

    def sample(self) -> None:
        """Notice a new scheduler (call on the event loop, after a run): the one it replaced
        is done, so its counts move into `base`."""
        scheduler = SharedScheduler.get(self.plan, self.cache).scheduler
        if scheduler is self.current:
            return
        if self.current is not None:
            for name, counts in self.base.items():
                stats = self.current.profile.node(name)
                for counter in counts:
                    counts[counter] += getattr(stats, counter)
        self.current = scheduler

    def totals(self) -> Iterator[tuple[str, str, int]]:
        """(node, counter, total) for every node and counter."""
        for name, counts in self.base.items():
            stats = self.current.profile.node(name) if self.current is not None else None
            for counter, value in counts.items():
                yield name, counter, value + (getattr(stats, counter) if stats else 0)


class _NodeCollector:
    """Reads the node totals at each scrape."""

    def __init__(self, totals: Mapping[str, _NodeTotals]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        families = {counter: CounterMetricFamily(f"llmkit_node_{counter}", text,
                                                 labels=["pipeline", "node"])
                    for counter, text in _NODE_COUNTERS}
        for pipeline, totals in self.totals.items():
            for node, counter, value in totals.totals():
                families[counter].add_metric([pipeline, node], value)
        yield from families.values()


class Metrics:
    """The app's registry (its own, so two apps in one process do not share counters)."""

    def __init__(self, pipelines: Mapping[str, Pipeline], cache: Any,
                 in_flight: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("llmkit_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("llmkit_request_seconds", "HTTP request latency by route",
                                 ["route"], registry=self.registry,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
        Gauge("llmkit_requests_in_flight", "requests running pipelines now",
              registry=self.registry).set_function(in_flight)
        self.nodes = {name: _NodeTotals(p, cache) for name, p in pipelines.items()}
        self.registry.register(_NodeCollector(self.nodes))

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def ran(self, pipeline: str) -> None:
        """A run of `pipeline` ended: keep its node counters whole."""
        self.nodes[pipeline].sample()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
