"""A Dask client for the executor: one given, one connected to a scheduler's address, or one
on a `LocalCluster` we start (a worker process per core, one thread each, no dashboard) and
therefore close; every failure to get one is a one-line `LlmkitError`."""

from __future__ import annotations

import logging
import os
from typing import Any

from llmkit.errors import LlmkitError, MissingExtraError

__all__ = ["Connection", "distributed"]

LOG_LENGTH = 16  # Dask's debugging logs of recent messages, for the clients we make
CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler before saying so


def distributed() -> Any:
    """The `distributed` package, or a MissingExtraError saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(f"the Dask executor needs dask[distributed]: pip install "
                                f"'llmkit[dask]' ({exc})") from exc
    return distributed


class Connection:
    """A client, and the cluster behind it when we started it (closed with it)."""

    def __init__(self, client: Any = None, address: str | None = None) -> None:
        self.client = client
        self.cluster: Any = None
        self.owned = client is None
        if client is not None:
            return
        dd = distributed()
        import dask

        # Dask keeps its last N messages under 1 MB for debugging (1,000 by default): with a
        # block of inputs in each, that log alone would hold up to a gigabyte.
        with dask.config.set({"distributed.admin.low-level-log-length": LOG_LENGTH}):
            if address is None:
                self.cluster = dd.LocalCluster(
                    n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR)
                self.client = dd.Client(self.cluster)
                return
            try:
                self.client = dd.Client(address, timeout=CONNECT_TIMEOUT)
            except (OSError, ValueError, TypeError) as exc:
                raise LlmkitError(f"cannot reach the Dask scheduler at {address}: "
                                  f"{' '.join(str(exc).split()) or type(exc).__name__}"
                                  ) from None

    def threads(self) -> int:
        """Worker threads in the cluster now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        """Close what we opened: our client, and our cluster with its worker processes."""
        if self.owned:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
