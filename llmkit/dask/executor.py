"""`DaskExecutor`: `p.run_many(inputs, executor=DaskExecutor(...))` and `p.iter_many(...)`
run a pipeline's inputs on a Dask cluster, in blocks, with the local runner's results and
error records (docs/dask.md)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from llmkit.dask.blocks import cut
from llmkit.dask.cluster import Connection
from llmkit.dask.recipe import recipe_of
from llmkit.dask.stream import BlockStream
from llmkit.errors import LlmkitError

__all__ = ["DEFAULT_BLOCK_SIZE", "DaskExecutor"]

# Dask costs ~2 ms of scheduling and transfer per block (bench/scale.py): 1,000 runs make
# that a few percent of even the cheapest pipelines, and still spread 100k runs over 100 tasks.
DEFAULT_BLOCK_SIZE = 1000
_OPTIONS = ("on_error", "cache", "window", "profile")
_END = object()


class DaskExecutor:
    """Runs many inputs of a pipeline on Dask: on `client`, on the scheduler at `address`
    ("host:8786" or "tcp://..."), or, given neither, on a LocalCluster it starts on first use
    and closes with `close()` (or on Ctrl-C). `blocks_in_flight` defaults to two per worker
    thread; `env` overrides the variables `${VAR}` references read on the workers."""

    def __init__(self, client: Any = None, address: str | None = None, *,
                 block_size: int = DEFAULT_BLOCK_SIZE, blocks_in_flight: int | None = None,
                 retries: int = 1, env: Mapping[str, str] | None = None) -> None:
        if client is not None and address is not None:
            raise ValueError("give a Dask client or a scheduler address, not both")
        if block_size < 1 or (blocks_in_flight is not None and blocks_in_flight < 1):
            raise ValueError("block_size and blocks_in_flight must be at least 1")
        self.block_size = block_size
        self.blocks_in_flight = blocks_in_flight
        self.retries = retries
        self.env = dict(env or {})
        self._client = client
        self._address = address.removeprefix("dask://") if address else None
        self._connection: Connection | None = None

    @property
    def client(self) -> Any:
        """The Dask client, connecting (or starting the LocalCluster) on first use."""
        if self._connection is None:
            self._connection = Connection(self._client, self._address)
        return self._connection.client

    def run_many(self, p: Pipeline, inputs: Iterable[Mapping[str, Any]],
                 **options: Any) -> list[Any]:
        """`p.run_many(inputs, **options)` on the cluster: results in input order."""
        return list(self.iter_many(p, inputs, **options))

    def iter_many(self, p: Pipeline, inputs: Iterable[Mapping[str, Any]], *,
                  ordered: bool = True, **options: Any) -> Iterator[Any]:
        """`p.iter_many(inputs, ...)` on the cluster: results in input order, or `(index,
        result)` pairs as blocks complete (`ordered=False`)."""
        stream = self._stream(p, inputs, ordered, options)
        try:
            yield from _outcomes(stream, ordered, options.get("on_error", "raise"))
        except KeyboardInterrupt:
            self.close()  # no worker process of ours outlives a Ctrl-C
            raise
        finally:
            stream.cancel()

    @asynccontextmanager
    async def astream_many(self, p: Pipeline, inputs: Iterable[Mapping[str, Any]], *,
                           ordered: bool = True, **options: Any
                           ) -> AsyncIterator[AsyncIterator[Any]]:
        """`p.astream_many(inputs, ...)` on the cluster, for async code (the CLI's writer):
        each result is waited for on a thread; leaving early cancels the blocks in flight."""
        import anyio.to_thread

        stream = self._stream(p, inputs, ordered, options)
        outcomes = _outcomes(stream, ordered, options.get("on_error", "raise"))

        async def results() -> AsyncIterator[Any]:
            while (outcome := await anyio.to_thread.run_sync(
                    next, outcomes, _END, abandon_on_cancel=True)) is not _END:
                yield outcome

        try:
            yield results()
        finally:
            stream.cancel()  # a thread still waiting for a block sees it cancelled and ends

    def _stream(self, p: Pipeline, inputs: Iterable[Mapping[str, Any]], ordered: bool,
                options: dict[str, Any]) -> BlockStream:
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise TypeError(f"unexpected option {sorted(unknown)[0]!r} for the Dask "
                            f"executor (it takes: {', '.join(_OPTIONS)})")
        if options.get("on_error", "raise") not in ("raise", "return"):
            raise ValueError(f"on_error must be 'raise' or 'return', not "
                             f"{options['on_error']!r}")
        cache = options.get("cache")
        if cache is not None and not isinstance(cache, str):
            raise TypeError("the Dask executor takes cache= as a URL (each worker opens its "
                            "own store): redis://host:6379/0, or sqlite:///path.db on a "
                            "shared disk")
        profile: Profile | None = options.get("profile")
        plan = p.validate()
        client = self.client
        recipe = client.scatter(recipe_of(p, self.env), broadcast=True, hash=False)
        window = {"window": options["window"]} if "window" in options else {}
        return BlockStream(
            client, recipe, cut(inputs, self.block_size, plan.inputs),
            in_flight=self.blocks_in_flight or 2 * self._connection.threads(),  # type: ignore[union-attr]
            ordered=ordered, retries=self.retries, cache=cache, options=window,
            profile=profile)

    def close(self) -> None:
        """Close the client and the LocalCluster this executor started (not one given)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing after a Ctrl-C: best effort
                connection.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _outcomes(stream: BlockStream, ordered: bool, on_error: str) -> Iterator[Any]:
    """What the caller sees of `stream`'s pairs: results (or `(index, result)` pairs), the
    first failed run's error raised under `on_error="raise"`."""
    for index, result in stream:
        if on_error == "raise" and isinstance(result, LlmkitError):
            raise result
        yield result if ordered else (index, result)
