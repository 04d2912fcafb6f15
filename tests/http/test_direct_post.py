"""A JSON POST over the aiohttp transport skips httpx's Request and Response objects
(`HttpApi._post_direct`): it must send the bytes and headers httpx would, and hand back to
httpx what it does not handle itself (cookies, compressed bodies)."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import httpx
from aiohttp import web

from llmkit.http import HttpApi

PAYLOAD = {"model": "m", "input": ["héllo", "wörld"], "n": 1.5}


async def _serve(handler: Any) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v1/echo", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1"


def _exchange(transport: str, respond: Any, calls: int = 1) -> list[dict[str, Any]]:
    """What the server saw of `calls` posts of PAYLOAD, and what each post returned."""
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append({"headers": {k.lower(): v for k, v in request.headers.items()
                                 if k.lower() != "host"},
                     "body": await request.read()})
        return respond(len(seen))

    async def main() -> None:
        runner, base = await _serve(handler)
        api = HttpApi(base, api_key="sk-test", transport=transport)  # type: ignore[arg-type]
        try:
            url = api.url("/echo")
            for _ in range(calls):
                answer = await api.post_json(url, PAYLOAD)
                seen[-1]["answer"] = answer
        finally:
            await api.aclose()
            await runner.cleanup()

    asyncio.run(main())
    return seen


def _json(n: int) -> web.Response:
    return web.json_response({"n": n})


def test_the_direct_post_sends_what_httpx_sends(monkeypatch):
    via_httpx = _exchange("httpx", _json)
    sends: list[int] = []
    send = httpx.AsyncClient.send
    monkeypatch.setattr(httpx.AsyncClient, "send",
                        lambda self, *a, **k: (sends.append(1), send(self, *a, **k))[1])
    direct = _exchange("aiohttp", _json)
    assert sends == []  # no httpx request was made on the aiohttp transport
    assert direct[0]["body"] == via_httpx[0]["body"]
    assert json.loads(direct[0]["body"]) == PAYLOAD
    assert direct[0]["headers"] == via_httpx[0]["headers"]
    assert direct[0]["answer"] == {"n": 1}


def test_a_cookie_the_server_sets_is_sent_back_as_httpx_does():
    def respond(n: int) -> web.Response:
        response = _json(n)
        if n == 1:
            response.set_cookie("lb", "node-7")
        return response

    for transport in ("aiohttp", "httpx"):
        first, second = _exchange(transport, respond, calls=2)
        assert "cookie" not in first["headers"]
        assert second["headers"]["cookie"] == "lb=node-7", transport
        assert second["answer"] == {"n": 2}


def test_a_compressed_answer_is_decoded():
    def respond(n: int) -> web.Response:
        return web.Response(body=gzip.compress(json.dumps({"n": n}).encode()),
                            headers={"Content-Type": "application/json",
                                     "Content-Encoding": "gzip"})

    assert _exchange("aiohttp", respond)[0]["answer"] == {"n": 1}
