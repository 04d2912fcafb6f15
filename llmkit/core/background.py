"""One background event loop for every sync call, started lazily and reused; `call` (a result)
and `iterate` (a stream) are the one bridge from sync code into async code.

`asyncio.run` per call costs a loop start and teardown, breaks clients bound to a loop, and
fails inside a running loop (a notebook). Sync calls here run on one asyncio loop in a daemon
thread instead, from any thread, including one that runs its own loop. The loop is driven
with `run_coroutine_threadsafe` directly: on a 2-core VM a round trip costs ~0.1 ms this way
against ~0.2 ms through anyio's `BlockingPortal`, which adds a task group per call.

The loop runs one long-lived main task (`run_until_complete`), which anyio takes as the root
task of every call: its worker threads (sync nodes) then outlive a call and are reused. Under
`run_forever` each call's task was the root, so every call started and stopped a thread:
a `run()` of one sync node took 0.7-1.0 ms that way, 0.4 ms now (shared 2-core VM).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
UNWIND_SECONDS = 30.0  # how long Ctrl-C waits for a cancelled call to unwind

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_closers: list[Callable[[], Awaitable[Any]]] = []


def get_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop, _thread
    if _loop is None:
        with _lock:
            if _loop is None:
                loop = asyncio.new_event_loop()
                _thread = threading.Thread(target=_serve, args=(loop,), name="llmkit-loop",
                                           daemon=True)
                _thread.start()
                _loop = loop
    return _loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run the main task until `_shutdown` stops the loop."""

    async def main() -> None:
        await loop.create_future()  # never done: the loop stops under it

    asyncio.set_event_loop(loop)
    with contextlib.suppress(RuntimeError):  # "Event loop stopped before Future completed"
        loop.run_until_complete(main())
    _close(loop)


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on the stopped loop, finalise its async generators and close it,
    as `asyncio.run` does: a loop left open warns "unclosed event loop" when collected."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(BaseException):  # best effort: the process is exiting
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _loop_for_sync_call() -> asyncio.AbstractEventLoop:
    """The background loop, refusing a call from the loop itself (it would wait forever)."""
    loop = get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("llmkit's sync API was called from its own loop; use the async API")
    return loop


def submit(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
           ) -> concurrent.futures.Future[T]:
    """Start `fn(*args, **kwargs)` on the background loop; cancel the future to cancel it."""
    loop = _loop_for_sync_call()
    return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop)  # type: ignore[arg-type]


def call(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run `await fn(*args, **kwargs)` on the background loop and return its result: the one
    bridge from sync code to async code, usable from any thread, inside a running loop too.

    The caller sleeps on a bare lock that the task's done-callback releases: a third less
    than `run_coroutine_threadsafe`'s chained futures (~100 against ~130 µs a round trip on
    a shared 2-core VM). Ctrl-C in the calling thread cancels the task and waits until it
    has unwound (task groups, open files and cache writes close cleanly) before
    KeyboardInterrupt propagates.
    """
    loop = _loop_for_sync_call()
    done = threading.Lock()
    done.acquire()
    tasks: list[asyncio.Task[T]] = []

    def start() -> None:
        task = loop.create_task(fn(*args, **kwargs))  # type: ignore[arg-type]
        task.add_done_callback(lambda _: done.release())
        tasks.append(task)

    loop.call_soon_threadsafe(start)
    try:
        done.acquire()
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(lambda: tasks and tasks[0].cancel())
        done.acquire(timeout=UNWIND_SECONDS)  # a second Ctrl-C stops the wait
        raise
    return tasks[0].result()


def iterate(fn: Callable[..., AsyncIterator[T]], *args: Any) -> Iterator[T]:
    """Iterate the async iterator `fn(*args)` from sync code: it runs on the background loop
    and its items arrive as it produces them (buffered without bound: for streams the
    consumer keeps up with, such as tokens). Leaving early cancels it; Ctrl-C as in `call`."""
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    finished = threading.Event()

    async def pump() -> None:
        try:
            async for item in fn(*args):
                items.put(item)
        except BaseException as exc:
            items.put(_Failed(exc))
            raise
        finally:
            items.put(_DONE)
            finished.set()

    future = submit(pump)
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    except KeyboardInterrupt:
        _unwind(future, finished)
        raise
    finally:
        future.cancel()


class _Failed:
    """What `iterate`'s pump hands over when the async iterator raises."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def _unwind(future: concurrent.futures.Future[Any], finished: threading.Event) -> None:
    """Cancel the coroutine behind `future` and wait, for up to UNWIND_SECONDS, until it has
    finished unwinding; a second Ctrl-C stops the wait."""
    future.cancel()
    finished.wait(UNWIND_SECONDS)


def on_close(closer: Callable[[], Awaitable[Any]]) -> None:
    """Have `await closer()` run on the background loop before it stops at exit (HTTP clients
    made on the loop close their connections cleanly)."""
    _closers.append(closer)


async def _close_all() -> None:
    closers, _closers[:] = list(_closers), []
    for closer in closers:
        with contextlib.suppress(Exception):  # best effort: the process is exiting anyway
            await closer()


def is_loop(loop: object) -> bool:
    """True when `loop` is the background loop."""
    return loop is _loop


def _shutdown() -> None:
    """At exit: close the clients, stop the loop and wait (5 s at most) until it has closed."""
    global _loop
    loop, _loop = _loop, None
    if loop is None or not loop.is_running():
        return
    if _closers:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_close_all(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    if _thread is not None:
        _thread.join(timeout=5)


def _forget_after_fork() -> None:
    # The loop's thread does not exist in a forked child: start a new one on demand.
    global _loop, _thread
    _loop = _thread = None
    _closers.clear()


atexit.register(_shutdown)
os.register_at_fork(after_in_child=_forget_after_fork)
