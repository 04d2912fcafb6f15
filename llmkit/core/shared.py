"""One long-lived scheduler per pipeline, event loop and cache, shared by every caller.

A service, an agent framework or a notebook calls `arun` from many tasks at once, and the
sync API from many threads (all on the one background loop). Each call admits its runs into
the same `Scheduler`, so they share micro-batches, single-flight and the cache: 100
concurrent `arun` calls make one embedding request, as one `arun_many` of the same 100 does.
The scheduler's loop is a task of its own (an asyncio task, or a trio system task), started
by the first run and ending once nothing has happened for `LINGER_SECONDS`, so no caller owns
it: one caller's cancellation cannot cancel a call that another caller's runs are in. It
runs in a fresh context, so no caller's context variables leak into another's calls; that
context names the scheduler's cache (`run_cache()`), so a node that runs pipelines of its own
(an agent's tools) runs them with the cache its own run has.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import time
from contextvars import ContextVar
from math import inf
from typing import Any

import anyio

from llmkit.core.plan import Plan
from llmkit.core.resources import prepare_resources, resources, unprepared
from llmkit.core.scheduler import Caller, Scheduler
from llmkit.errors import LlmkitError, NodeError

__all__ = ["LINGER_SECONDS", "SharedScheduler", "run_cache"]

LINGER_SECONDS = 1.0  # how long an idle scheduler's loop waits for the next run

_active: dict[tuple[int, int, int], SharedScheduler] = {}
_run_cache: ContextVar[Any] = ContextVar("llmkit_run_cache", default=None)


def run_cache() -> Any:
    """The cache store of the runs whose node is calling (None without one): a node that runs
    a pipeline of its own passes it on, so that pipeline's results are cached like its own."""
    return _run_cache.get()


class SharedScheduler:
    """The scheduler that every caller of one plan on one event loop, with one cache, joins."""

    @classmethod
    def get(cls, plan: Plan, cache: Any = None) -> SharedScheduler:
        """The shared scheduler for `plan` and `cache` on the running event loop."""
        try:
            loop: Any = asyncio.get_running_loop()
            library = "asyncio"
        except RuntimeError:  # anyio's other backend: trio (not a dependency of llmkit)
            import trio

            loop = trio.lowlevel.current_trio_token()
            library = "trio"
        key = (id(plan), id(loop), id(cache))
        shared = _active.get(key)
        if shared is None:
            shared = _active[key] = cls(plan, cache, loop, library, key)
        return shared

    def __init__(self, plan: Plan, cache: Any, loop: Any, library: str,
                 key: tuple[int, int, int]) -> None:
        self.plan = plan
        self.scheduler = Scheduler(plan, cache=cache)
        self._resources = resources(plan)  # the ones to prepare before a run reads them
        self._refs = (cache, loop)  # what the key's ids name stays alive while it is used
        self._library = library
        self._key = key
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_since = inf  # when the scheduler last became idle; inf while busy
        self._expired = False  # idle long enough: the loop ends when next idle
        self._preparing: anyio.Event | None = None
        self._prepare_error: NodeError | None = None

    # -- callers --------------------------------------------------------------------------
    async def prepare(self) -> NodeError | None:
        """Prepare the plan's resources, once for all callers asking at the same time (they
        then admit their runs in the same loop turn, and batch); the error that makes every
        run fail, or None."""
        if self._preparing is not None:
            await self._preparing.wait()
            return self._prepare_error
        if not self._resources or not unprepared(self._resources):
            return None
        self._preparing = anyio.Event()
        try:
            await prepare_resources(self._resources)
            self._prepare_error = None
        except NodeError as exc:
            self._prepare_error = exc
        finally:
            self._preparing.set()
            self._preparing = None
        return self._prepare_error

    def join(self, caller: Caller) -> None:
        """Register `caller`; it must `leave` when done, however it ends."""
        self.scheduler.join(caller)

    def admit(self, caller: Caller, index: int, inputs: dict[str, Any]) -> None:
        """Start one run of `caller`; the scheduler's loop starts if it is not running."""
        self.scheduler.admit(caller, index, inputs)
        if not self._running:
            self._start()
        self.scheduler.notify()

    async def leave(self, caller: Caller) -> None:
        """Withdraw what is left of `caller`'s runs, and wait until the calls that only they
        needed have been cancelled (a caller that leaves has no call of its own running);
        the others' runs go on."""
        unwinding = self.scheduler.leave(caller)
        if unwinding:
            with anyio.CancelScope(shield=True):  # the caller may be leaving by cancellation
                for unwound in unwinding:
                    await unwound.wait()

    # -- the loop -------------------------------------------------------------------------
    def _start(self) -> None:
        self._running = True
        _active[self._key] = self  # again, if the loop had ended and dropped it
        context = contextvars.Context()
        context.run(_run_cache.set, self._refs[0])
        if self._library == "trio":
            import trio

            trio.lowlevel.spawn_system_task(self._serve, context=context)
        else:
            # A task copies the context it is created in (Python 3.10 has no `context=`).
            task = context.run(asyncio.get_running_loop().create_task, self._serve())
            self._tasks.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._tasks.discard)

    async def _serve(self) -> None:
        """Dispatch until `_reap` finds the scheduler idle for LINGER_SECONDS. Never raises
        but cancellation: a failure of the engine itself fails the runs in it, not the event
        loop."""
        scheduler = self.scheduler
        self._idle_since = inf
        self._expired = False
        try:
            async with anyio.create_task_group() as tg:
                scheduler.bind(tg, asyncio.get_running_loop()
                               if self._library == "asyncio" else None)
                tg.start_soon(self._reap)
                while True:
                    scheduler.dispatch()
                    if not scheduler.idle:
                        self._idle_since = inf
                    elif self._expired:
                        self._running = False  # from here, the next run starts a new loop
                        break
                    elif self._idle_since == inf:
                        self._idle_since = time.monotonic()
                    await scheduler.wait()
                    if scheduler.failure is not None:
                        raise scheduler.failure
                tg.cancel_scope.cancel()  # the reaper
        except BaseException as exc:
            self._running = False
            scheduler.cancel_tasks()
            self._fail_all(exc)
            if not isinstance(exc, Exception):
                raise  # cancellation: the event loop is closing
        finally:
            if not self._running and _active.get(self._key) is self:
                del _active[self._key]

    async def _reap(self) -> None:
        """Ends the loop once it has been idle for LINGER_SECONDS: one timer a second, not
        one per wait, so a lone run pays for none."""
        while True:
            await anyio.sleep(LINGER_SECONDS)
            if time.monotonic() - self._idle_since >= LINGER_SECONDS:
                self._expired = True
                self.scheduler.notify()
                return

    def _fail_all(self, exc: BaseException) -> None:
        """Give every unfinished run an error (its caller must not wait forever); new callers
        get a new scheduler: this one's state is not to be trusted any more."""
        error = LlmkitError(
            "the event loop is closing" if not isinstance(exc, Exception) else
            f"llmkit's scheduler failed ({type(exc).__name__}: {exc}); please report this")
        if _active.get(self._key) is self:
            del _active[self._key]  # new callers get a new scheduler
        self.scheduler.fail_all(error)


os.register_at_fork(after_in_child=_active.clear)  # a child has none of the parent's loops
