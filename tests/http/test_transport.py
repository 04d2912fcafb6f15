"""AiohttpTransport behind httpx, and the choice `make_client` makes."""

from __future__ import annotations

import anyio
import httpx
import pytest

from llmkit.http import make_client
from llmkit.http.transport import AiohttpTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


def aiohttp_client(**options) -> httpx.AsyncClient:
    client = make_client(transport="aiohttp", **options)
    assert isinstance(client._transport, AiohttpTransport)
    return client


async def test_requests_and_answers_pass_through(fake_server):
    async with aiohttp_client(base_url=fake_server.url) as client:
        models = await client.get("/v1/models")
        chat = await client.post("/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert models.status_code == 200 and models.json()["object"] == "list"
    assert models.http_version == "HTTP/1.1"
    assert chat.json()["choices"][0]["message"]["content"].startswith("answer ")
    assert fake_server.control.stats()["last"]["/v1/chat/completions"]["model"] == "m"


async def test_the_key_is_sent_from_the_client_headers(fake_server):
    fake_server.control.faults(api_key="k1")
    async with aiohttp_client(base_url=fake_server.url, api_key="k1") as client:
        assert (await client.get("/v1/models")).status_code == 200
    async with aiohttp_client(base_url=fake_server.url) as client:
        assert (await client.get("/v1/models")).status_code == 401


async def test_responses_stream(fake_server):
    fake_server.control.config(stream_delay_ms=30)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    async with (aiohttp_client(base_url=fake_server.url) as client,
                client.stream("POST", "/v1/chat/completions", json=body) as response):
        chunks = [chunk async for chunk in response.aiter_raw()]
    assert len(chunks) > 3
    assert b"".join(chunks).endswith(b"data: [DONE]\n\n")


async def test_connections_are_kept_alive_and_bounded(fake_server):
    fake_server.control.config(latency_ms=20)
    async with aiohttp_client(base_url=fake_server.url, max_connections=3) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(9):
                tg.start_soon(client.get, "/v1/models")
        connector = client._transport._session.connector
        assert len(connector._conns) == 1 and len(next(iter(connector._conns.values()))) == 3
    assert fake_server.control.stats()["peak_in_flight"] == 3


@pytest.mark.parametrize(("fault", "error"), [
    ("hang", httpx.ReadTimeout),
    ("reset", (httpx.RemoteProtocolError, httpx.ReadError)),
])
async def test_aiohttp_errors_become_httpx_errors(fake_server, fault, error):
    fake_server.control.faults(schedule=[fault])
    async with aiohttp_client(base_url=fake_server.url, timeout=0.3) as client:
        with pytest.raises(error):
            await client.get("/v1/models")


async def test_connection_refused_is_a_connect_error(closed_port):
    async with aiohttp_client(base_url=f"http://127.0.0.1:{closed_port}") as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/")


async def test_close_releases_the_session(fake_server):
    client = aiohttp_client(base_url=fake_server.url)
    await client.get("/v1/models")
    session = client._transport._session
    await client.aclose()
    assert session.closed and client._transport._session is None


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_auto_picks_aiohttp_on_asyncio_and_httpx_on_trio(anyio_backend):
    async with make_client() as auto, make_client(transport="aiohttp") as forced:
        on_asyncio = anyio_backend == "asyncio"
        assert isinstance(auto._transport, AiohttpTransport) is on_asyncio
        assert isinstance(forced._transport, AiohttpTransport) is on_asyncio
    async with make_client(transport="httpx") as plain:
        assert isinstance(plain._transport, httpx.AsyncHTTPTransport)


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport must be"):
        make_client(transport="curl")
