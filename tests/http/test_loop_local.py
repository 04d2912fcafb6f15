"""LoopLocalClient: one client per running event loop, dropped with its loop."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
import weakref
from functools import partial

import anyio
import pytest

from llmkit.http import LoopLocalClient, make_client

pytestmark = pytest.mark.anyio


async def test_one_loop_gets_one_client(anyio_backend, transport):
    holder = LoopLocalClient(partial(make_client, transport=transport))
    seen = []

    async def get() -> None:
        seen.append(holder.get())

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(get)
    assert seen[0] is seen[1] is seen[2] is holder.get()
    await holder.aclose()


def test_two_running_loops_get_two_working_clients(fake_server):
    holder = LoopLocalClient(partial(make_client, fake_server.url))
    both_running = threading.Barrier(2, timeout=10)
    clients, answers = [], []

    async def use() -> None:
        client = holder.get()
        both_running.wait()
        answers.append((await client.get("/v1/models")).status_code)
        clients.append(client)
        assert holder.get() is client
        await holder.aclose()

    threads = [threading.Thread(target=asyncio.run, args=(use(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200, 200]
    assert clients[0] is not clients[1]


def test_asyncio_and_trio_get_different_clients():
    holder = LoopLocalClient(make_client)

    async def get():
        return holder.get()

    assert anyio.run(get, backend="asyncio") is not anyio.run(get, backend="trio")


def test_a_closed_loops_client_is_dropped(fake_server):
    holder = LoopLocalClient(partial(make_client, fake_server.url, transport="httpx"))

    async def use():
        await holder.get().get("/v1/models")  # an open connection ties the client to its loop
        return weakref.ref(asyncio.get_running_loop())

    first_loop = asyncio.run(use())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the first client was never closed
        asyncio.run(use())
        gc.collect()
    assert first_loop() is None


def test_get_outside_a_loop_says_so():
    with pytest.raises(Exception, match="running event loop"):
        LoopLocalClient(make_client).get()
