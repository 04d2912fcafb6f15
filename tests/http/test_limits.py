"""Bounds on what one request may cost: a total deadline, a response size cap, a connection
pool as large as the callers' concurrency, and running out of file descriptors named as such."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import anyio
import pytest

from llmkit.errors import BackendError, RetryableError
from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from tests.servers.fake_llm import fake_answer
from tests.servers.process import ROOT

pytestmark = pytest.mark.anyio

MiB = 2**20


def chat(server, transport, **options) -> OpenAIChat:
    return OpenAIChat("fake-model", base_url=f"{server.url}/v1", transport=transport, **options)


async def test_a_trickled_answer_fails_at_the_deadline(fake_server, transport):
    fake_server.control.faults(schedule=["trickle"], trickle_ms=100)  # ~30 s for the answer
    async with chat(fake_server, transport, deadline=1) as llm:
        with pytest.raises(RetryableError, match=r"no complete answer from http://\S+/v1/chat/"
                                                 r"completions within the deadline of 1 s"):
            await llm.agenerate("q")


async def test_a_deadline_cuts_a_silent_server_short_of_a_long_timeout(fake_server, transport):
    fake_server.control.faults(schedule=["hang"])
    async with chat(fake_server, transport, timeout=600, deadline=0.5) as llm:
        with anyio.fail_after(60), pytest.raises(RetryableError,
                                                 match=r"within the deadline of 0\.5 s"):
            await llm.agenerate("q")  # not after the 600 s of `timeout`


async def test_a_numeric_timeout_bounds_a_whole_answer_by_default(fake_server, transport):
    fake_server.control.faults(schedule=["trickle"], trickle_ms=100)
    async with chat(fake_server, transport, timeout=1) as llm:
        with pytest.raises(RetryableError, match="within the deadline of 1 s"):
            await llm.agenerate("q")


async def test_a_stream_outlasts_its_timeout_but_not_its_deadline(fake_server, transport):
    fake_server.control.config(stream_delay_ms=150)  # ~9 pieces: ~1.3 s in all
    prompt = "a story of several words"
    async with chat(fake_server, transport, timeout=0.6) as llm:
        assert "".join([p async for p in llm.astream(prompt)]) == fake_answer(prompt)
    async with chat(fake_server, transport, timeout=0.6, deadline=0.6) as llm:
        with pytest.raises(RetryableError, match=r"within the deadline of 0\.6 s"):
            async for _ in llm.astream(prompt):
                pass


async def test_an_answer_over_the_size_cap_is_one_line_naming_the_option(fake_server, transport):
    fake_server.control.faults(schedule=["huge", "huge"], huge_bytes=4 * MiB)
    async with chat(fake_server, transport, max_response_bytes=MiB) as llm:
        with pytest.raises(BackendError) as whole:
            await llm.agenerate("q")
        with pytest.raises(BackendError) as streamed:
            async for _ in llm.astream("q"):
                pass
    for caught in (whole, streamed):
        message = str(caught.value)
        assert type(caught.value) is BackendError and "\n" not in message
        assert "larger than max_response_bytes=1048576 (1 MiB)" in message


@pytest.mark.parametrize("loop_and_transport", [("asyncio", "aiohttp")])
async def test_the_default_size_cap_is_64_mib(fake_server, transport):
    fake_server.control.faults(schedule=["huge", "ok"], huge_bytes=65 * MiB)
    async with OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1",
                              transport=transport) as embedder:
        with pytest.raises(BackendError, match=r"max_response_bytes=67108864 \(64 MiB\)"):
            await embedder.aembed(["a"])
        assert (await embedder.aembed(["a"])).shape == (1, 16)


async def test_the_pool_is_as_large_as_the_requests_in_flight(fake_server, transport):
    fake_server.control.config(latency_ms=1000)
    async with chat(fake_server, transport) as llm, anyio.create_task_group() as tg:
        for i in range(150):
            tg.start_soon(llm.agenerate, f"q{i}")
    assert fake_server.control.stats()["peak_in_flight"] > 100  # the pool was fixed at 100


async def test_max_connections_caps_the_pool(fake_server, transport):
    fake_server.control.config(latency_ms=50)
    async with chat(fake_server, transport, max_connections=3) as llm, \
            anyio.create_task_group() as tg:
        for i in range(9):
            tg.start_soon(llm.agenerate, f"q{i}")
    assert fake_server.control.stats()["peak_in_flight"] == 3


@pytest.mark.parametrize("transport_name", ["aiohttp", "httpx"])
def test_running_out_of_file_descriptors_says_emfile(fake_server, transport_name):
    script = textwrap.dedent(f"""
        import asyncio, os, resource
        from llmkit.nodes.backends.openai import OpenAIChat

        async def main():
            chat = OpenAIChat("m", base_url="{fake_server.url}/v1", transport="{transport_name}")
            await chat.agenerate("warm up")  # the client exists, one connection is kept alive
            in_use = len(os.listdir("/proc/self/fd")) - 1  # less the one listdir used
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (in_use, hard))  # no socket left
            results = await asyncio.gather(chat.agenerate("a"), chat.agenerate("b"),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    print(type(result).__name__, result)

        asyncio.run(main())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("BackendError cannot connect to http://127.0.0.1:")
    assert "out of file descriptors (EMFILE, too many open files): raise the limit (ulimit -n) " \
           "or lower the concurrency" in result.stdout
    assert "is the server running" not in result.stdout
