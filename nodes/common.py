"""What the node families share: the retry policy of nodes that call a server, the check of
a `k` param."""

from __future__ import annotations

from llmkit.core.node import Retry

__all__ = ["REMOTE_RETRY", "check_k"]

# Nodes that may call a server retry what the server says is worth retrying (429, 5xx,
# timeouts, resets: `RetryableError`); offline components never raise it.
REMOTE_RETRY = Retry(attempts=4, backoff=0.2, max_backoff=10.0)


def check_k(k: int) -> int:
    """`k` if it is a positive integer, else a ValueError."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    return k
