"""Small nodes for engine tests: they count calls and calls in flight."""

from __future__ import annotations

import threading
import time

import anyio

from llmkit.core.node import Node


class Tracker:
    """Counts calls, batch sizes and the peak of calls in flight (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.batches: list[int] = []
        self.in_flight = 0
        self.peak = 0

    def enter(self, size: int = 1) -> None:
        with self.lock:
            self.calls += 1
            self.batches.append(size)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class AddBatch(Node):
    """x + n for a whole micro-batch in one call."""

    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self, n: int = 1, tracker: Tracker | None = None, fail_on: int | None = None):
        self.n, self.tracker, self.fail_on = n, tracker or Tracker(), fail_on

    def run_batch(self, items):
        self.tracker.enter(len(items))
        try:
            if any(item["x"] == self.fail_on for item in items):
                raise ValueError(f"cannot take {self.fail_on}")
            return [{"x": item["x"] + self.n} for item in items]
        finally:
            self.tracker.leave()


class SlowAdd(Node):
    """x + n, one item at a time, after `delay` seconds (async)."""

    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self, n: int = 1, delay: float = 0.0, tracker: Tracker | None = None):
        self.n, self.delay, self.tracker = n, delay, tracker or Tracker()

    async def run(self, x):
        self.tracker.enter()
        try:
            await anyio.sleep(self.delay)
            return {"x": x + self.n}
        finally:
            self.tracker.leave()


class SyncSlowAdd(Node):
    """x + n in a worker thread, after `delay` seconds of blocking sleep."""

    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self, n: int = 1, delay: float = 0.0, tracker: Tracker | None = None):
        self.n, self.delay, self.tracker = n, delay, tracker or Tracker()

    def run(self, x):
        self.tracker.enter()
        try:
            time.sleep(self.delay)
            return {"x": x + self.n}
        finally:
            self.tracker.leave()


class SlowBatch(Node):
    """x + n for a micro-batch in one async call of `delay` seconds; notes each call's items
    (`batches`) and those of each call that was cancelled (`cancelled`)."""

    inputs = {"x": int}
    outputs = {"x": int}

    def __init__(self, n: int = 1, delay: float = 0.0, tracker: Tracker | None = None,
                 fail_on: frozenset[int] = frozenset()):
        self.n, self.delay, self.fail_on = n, delay, fail_on
        self.tracker = tracker or Tracker()
        self.batches: list[list[int]] = []
        self.cancelled: list[list[int]] = []

    async def run_batch(self, items):
        xs = [item["x"] for item in items]
        self.batches.append(xs)
        self.tracker.enter(len(items))
        try:
            await anyio.sleep(self.delay)
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(xs)
            raise
        finally:
            self.tracker.leave()
        if self.fail_on.intersection(xs):
            raise ValueError(f"cannot take {sorted(self.fail_on.intersection(xs))}")
        return [{"x": x + self.n} for x in xs]
