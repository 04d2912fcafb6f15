"""One background event loop for every sync call, started lazily and reused.

`asyncio.run` per call costs a loop start and teardown, breaks clients bound to a loop, and
fails inside a running loop (a notebook). Sync calls here run on one anyio blocking portal
in a daemon thread instead, from any thread, including one that runs its own loop.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_stack: ExitStack | None = None


def get_portal() -> BlockingPortal:
    """The process-wide portal, started on first use."""
    global _portal, _stack
    if _portal is None:
        with _lock:
            if _portal is None:
                stack = ExitStack()
                _portal = stack.enter_context(start_blocking_portal(backend="asyncio"))
                _stack = stack
    return _portal


def _shutdown() -> None:
    global _portal, _stack
    if _stack is not None:
        stack, _stack, _portal = _stack, None, None
        stack.close()


def _forget_after_fork() -> None:
    # The portal's thread does not exist in a forked child: start a new one on demand.
    global _portal, _stack
    _portal, _stack = None, None


atexit.register(_shutdown)
os.register_at_fork(after_in_child=_forget_after_fork)


def call(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run `await fn(*args, **kwargs)` on the background loop and return its result.

    Ctrl-C in the calling thread cancels the coroutine (structured: its task groups unwind,
    nothing is left half-done) before KeyboardInterrupt propagates.
    """
    future = get_portal().start_task_soon(_with_kwargs, fn, args, kwargs)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


async def _with_kwargs(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> T:
    return await fn(*args, **kwargs)
