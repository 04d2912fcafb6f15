"""One stream of blocks through a cluster: a bounded number of blocks in flight (so client
memory stays flat for any input size), results in input order or as blocks complete, and a
thread-safe `cancel` that withdraws every block not yet taken."""

from __future__ import annotations

import pickle
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from llmkit.core.stats import Profile
from llmkit.dask.blocks import Block
from llmkit.dask.worker import Failed, run_block

__all__ = ["BlockStream"]


class BlockStream:
    """Runs `blocks` on `client` with at most `in_flight` submitted at once; iterate it for
    `(index, result)` pairs. A lost worker's blocks are run again by Dask elsewhere (its
    `allowed-failures`); `retries` re-runs a block whose task raised."""

    def __init__(self, client: Any, recipe: Any, blocks: Iterator[Block], *, in_flight: int,
                 ordered: bool, retries: int, cache: str | None, options: dict[str, Any],
                 profile: Profile | None = None) -> None:
        self.client = client
        self.recipe = recipe  # the recipe's future, scattered to every worker once
        self.blocks = blocks
        self.in_flight = in_flight
        self.ordered = ordered
        self.retries = retries
        self.cache = cache
        self.options = options
        self.profile = profile
        self._pending: dict[Any, tuple[Block, Any]] = {}  # submitted, by future key, in order
        self._lock = threading.Lock()
        self._cancelled = False
        self._name = f"llmkit-block-{uuid.uuid4().hex[:8]}"

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        try:
            self._fill()
            while self._pending:
                block, data = self._next_done()
                if isinstance(data, Failed):
                    raise data.error
                results, profile = data
                if self.profile is not None:
                    _merge(self.profile, profile)
                self._fill()  # keep the workers busy while the consumer takes these
                yield from block.results(results)
        finally:
            self.cancel()

    def _fill(self) -> None:
        """Submit blocks until `in_flight` are pending or the inputs run out."""
        while len(self._pending) < self.in_flight and not self._cancelled:
            block = next(self.blocks, None)
            if block is None:
                return
            future = self.client.submit(
                run_block, self.recipe, block.payload, self.cache, self.options,
                key=f"{self._name}-{block.start}", retries=self.retries)
            with self._lock:
                if self._cancelled:
                    self.client.cancel([future])
                    return
                self._pending[future.key] = (block, future)

    def _next_done(self) -> tuple[Block, Any]:
        """The first pending block (ordered), or the first to finish, and what it returned;
        a cancelled block raises CancelledError."""
        with self._lock:
            waiting = list(self._pending.values())
        if self.ordered:
            chosen = waiting[0]
        else:
            from distributed import wait

            done = wait([future for _, future in waiting], return_when="FIRST_COMPLETED").done
            chosen = next(pair for pair in waiting if pair[1] in done)
        block, future = chosen
        data = pickle.loads(future.result())
        with self._lock:
            self._pending.pop(future.key, None)  # its result leaves the cluster now
        return block, data

    def cancel(self) -> None:
        """Withdraw the blocks still pending and submit no more (from any thread)."""
        with self._lock:
            self._cancelled = True
            futures = [future for _, future in self._pending.values()]
            self._pending.clear()
        if futures:
            self.client.cancel(futures)


def _merge(into: Profile, part: Profile) -> None:
    """Add a block's per-node statistics, from a worker, to the caller's profile."""
    for name, stats in part.nodes.items():
        into.node(name).merge(stats)
