"""A fake LLM and search server on 127.0.0.1 for tests and benchmarks.

Speaks OpenAI (`POST /v1/embeddings`, `POST /v1/chat/completions` whole or SSE, `GET
/v1/models`), Ollama (`POST /api/embed`, `POST /api/chat` whole or NDJSON), SearxNG (`GET
/search?format=json`) and rerank APIs (`POST /v1/rerank` as llama.cpp, vLLM and Cohere,
`POST /rerank` as TEI). Answers are deterministic (see `fake_vector`, `fake_answer`,
`fake_results`, `fake_relevance`), so a test can tell which input produced which output.

Control endpoints (JSON):
    GET /_stats, DELETE /_stats      requests per path, texts embedded, in flight, peak in flight,
                                     peak embedding requests worked on at once, the last
                                     request body per path, the tokens reported in `usage`
    GET|POST|DELETE /_config         latency_ms, stream_delay_ms, dim, models, shuffle, pooling,
                                     embed_concurrency, replies
    GET|POST|DELETE /_faults         api_key, basic_auth, fail_rate, fail_with, schedule,
                                     retry_after, trickle_ms, huge_bytes, seed
    POST /_reset                     all three back to the startup state

Faults (`fail_with`, or the `schedule` list consumed one per request; "ok" for none): an HTTP
status ("500", "429" with Retry-After: `retry_after`, "400", ...), "hang" (no answer until the
client leaves), "malformed" (a truncated JSON body), "reset" (TCP reset mid-body), "truncate"
(a stream that ends cleanly halfway, without its end marker; a whole body cut in half),
"trickle" (the answer one byte per `trickle_ms`), "huge" (a 200 JSON body of `huge_bytes`).
With `api_key` set, requests without `Authorization: Bearer <api_key>` get a 401; with
`basic_auth` ("user:password"), requests without that Basic authorization do. Error messages
quote the request's bearer token, as careless servers do, so tests can check it goes no further.
`pooling: "none"` answers /v1/embeddings as llama.cpp's server started without pooling does:
one float vector per token (per whitespace-separated word here) for each text.
`embed_concurrency: N` works on at most N embedding requests at once (their latency and
answer), as a GPU server works through one batch after another; the others queue, in order
(null: any number at once).
A chat request with a JSON Schema (OpenAI `response_format: {type: json_schema}`, Ollama
`format: {...}`) is answered with JSON following it (`fake_json`); the fault "unschema" answers
JSON that does not.
`replies: {"TEXT": "REPLY", ...}` scripts OpenAI chat answers: a prompt whose last user message
contains TEXT is answered REPLY (the first such entry), any other as usual.
`tool_script: [[{"name": N, "arguments": {...}}, ...], ...]` scripts tool calls (OpenAI and
Ollama, whole or streamed) for requests that offer `tools`: a request holding k assistant
turns with tool calls gets round k's calls (all at once: parallel calls), and once the rounds
are used up the answer `answer from: ` and the tool results' contents joined by ` | `
(`fake_tool_answer`). Streamed OpenAI tool calls come in pieces (id and name, then the
arguments' JSON text in two halves), as real servers send them.

Token usage is reported as the real APIs do (OpenAI `usage`, in a stream's last chunk when
`stream_options.include_usage`; Ollama `prompt_eval_count`/`eval_count`): a prompt token is a
whitespace-separated word of the messages or texts sent, a completion token one of the
answer's pieces (`fake_tokens`); `/_stats` sums what was reported.

    python -m tests.servers.fake_llm --port 0 --latency-ms 50   # first stdout line: the port
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
import json
import random
import re
import signal
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from aiohttp import web

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0.0, "stream_delay_ms": 0.0, "dim": 16, "models": None, "shuffle": False,
    "pooling": "mean", "embed_concurrency": None, "replies": {}, "tool_script": None,
}
EMBED_PATHS = frozenset({"/v1/embeddings", "/api/embed"})
DEFAULT_FAULTS: dict[str, Any] = {
    "api_key": None, "basic_auth": None, "fail_rate": 0.0, "fail_with": "500", "schedule": [],
    "retry_after": "1", "trickle_ms": 250.0, "huge_bytes": 100 * 2**20, "seed": 0,
}


def fake_vector(text: str, dim: int) -> list[float]:
    """The embedding of `text`: `dim` values in [-1, 1] drawn from its SHAKE-256 digest."""
    return [(b - 127.5) / 127.5 for b in hashlib.shake_256(text.encode()).digest(dim)]


def fake_answer(prompt: str, max_tokens: int | None = None) -> str:
    """The answer to `prompt`: a digest of it, then the start of the prompt itself."""
    return "".join(fake_tokens(prompt, max_tokens))


def fake_tokens(prompt: str, max_tokens: int | None = None) -> list[str]:
    digest = hashlib.blake2b(prompt.encode(), digest_size=4).hexdigest()
    tokens = re.findall(r"\s*\S+", f"answer {digest} to: {prompt[:60]}")
    return tokens[:max_tokens] if max_tokens is not None else tokens


def fake_json(schema: dict[str, Any], prompt: str, broken: bool = False) -> Any:
    """A value following `schema` (object, array, string, number, integer, boolean, enum),
    strings drawn from `prompt`'s digest; `broken`: one that does not (a number)."""
    if broken:
        return 0
    if "enum" in schema:
        return schema["enum"][int(hashlib.blake2b(prompt.encode()).hexdigest(), 16)
                              % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return {name: fake_json(sub, f"{name}:{prompt}")
                for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [fake_json(schema.get("items") or {}, prompt)]
    values = {"integer": len(prompt), "number": len(prompt) / 2, "boolean": len(prompt) % 2 == 0,
              "null": None}
    return values.get(kind, hashlib.blake2b(prompt.encode(), digest_size=4).hexdigest())


def fake_tool_round(config: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The scripted tool calls for this request (None: answer), when `tool_script` is set and
    the request offers tools."""
    script = config["tool_script"]
    if script is None or not body.get("tools"):
        return None
    done = sum(1 for m in body["messages"] if m.get("role") == "assistant" and m.get("tool_calls"))
    return script[done] if done < len(script) else None


def fake_tool_answer(messages: list[dict[str, Any]]) -> str:
    """The answer after the tool rounds: the tool results, in order."""
    return "answer from: " + " | ".join(str(m.get("content")) for m in messages
                                        if m.get("role") == "tool")


def fake_relevance(query: str, document: str) -> float:
    """The rerank score of `document`: the share of the query's distinct words it contains."""
    wanted = set(query.lower().split())
    return len(wanted & set(document.lower().split())) / max(len(wanted), 1)


def fake_prompt_tokens(texts: list[str]) -> int:
    """The prompt tokens of `texts`: their whitespace-separated words."""
    return sum(len(str(text).split()) for text in texts)


def fake_results(query: str, n: int = 10) -> list[dict[str, str]]:
    """SearxNG-style results for `query` (urls repeat once, as merged engines' results may)."""
    digest = hashlib.blake2b(query.encode(), digest_size=4).hexdigest()
    results = [{"url": f"https://example.org/{digest}/{i}", "title": f"Result {i} for {query}",
                "content": f"Text {i} about {query}.", "engine": "fake"} for i in range(n)]
    return results[:2] + results[1:]


class FakeLLMServer:
    """The server, in-process: `port = await server.start()`, then `await server.stop()`."""

    def __init__(self, config: dict[str, Any] | None = None,
                 faults: dict[str, Any] | None = None) -> None:
        self._initial = ({**DEFAULT_CONFIG, **(config or {})}, {**DEFAULT_FAULTS, **(faults or {})})
        self.config, self.faults = copy.deepcopy(self._initial)
        self._rng = random.Random(self.faults["seed"])
        self._embed_gate: tuple[int | None, asyncio.Semaphore | None] = (None, None)
        self.embed_running = 0  # embedding requests being worked on (past the queue)
        self._reset_stats()
        self.app = web.Application(middlewares=[self._observe])
        self.app.add_routes([
            web.post("/v1/embeddings", self._openai_embeddings),
            web.post("/v1/chat/completions", self._openai_chat),
            web.get("/v1/models", self._openai_models),
            web.post("/api/embed", self._ollama_embed),
            web.post("/api/chat", self._ollama_chat),
            web.get("/search", self._search),
            web.post("/v1/rerank", self._rerank),
            web.post("/rerank", self._rerank),
            web.get("/_stats", self._get_stats),
            web.delete("/_stats", self._delete_stats),
            web.route("*", "/_config", self._settings),
            web.route("*", "/_faults", self._settings),
            web.post("/_reset", self._reset),
        ])
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on `host:port` (0: any free port) and return the port."""
        # handler_cancellation: a "hang" ends (and leaves the in-flight count) with its client.
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        return self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- observation and faults ---------------------------------------------------------------

    def _reset_stats(self) -> None:
        self.requests: Counter[str] = Counter()
        self.inputs: Counter[str] = Counter()
        self.last: dict[str, Any] = {}
        self.usage: Counter[str] = Counter()  # tokens reported: prompt_tokens, completion_tokens
        self.in_flight = getattr(self, "in_flight", 0)  # requests still running stay counted
        self.peak_in_flight = self.in_flight
        self.peak_embed_running = self.embed_running

    @web.middleware
    async def _observe(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_"):
            return await handler(request)
        self.requests[request.path] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            key, basic = self.faults["api_key"], self.faults["basic_auth"]
            if key and request.headers.get("Authorization") != f"Bearer {key}":
                return _error(request, 401, f"Incorrect API key provided{_echo_key(request)}")
            if basic and request.headers.get("Authorization") != (
                    "Basic " + base64.b64encode(basic.encode()).decode()):
                return _error(request, 401, "Basic authentication required")
            async with self._turn(request):
                fault = self._next_fault()
                if self.config["latency_ms"]:
                    await asyncio.sleep(self.config["latency_ms"] / 1000)
                return await (self._inject(request, fault, handler) if fault
                              else handler(request))
        finally:
            self.in_flight -= 1

    @asynccontextmanager
    async def _turn(self, request: web.Request) -> AsyncIterator[None]:
        """An embedding request's turn among `embed_concurrency` worked on at once; any other
        request's at once."""
        if request.path not in EMBED_PATHS:
            yield
            return
        limit = self.config["embed_concurrency"]
        if self._embed_gate[0] != limit:  # set (again): a new queue
            self._embed_gate = (limit, asyncio.Semaphore(limit) if limit else None)
        gate = self._embed_gate[1]
        if gate is not None:
            await gate.acquire()
        self.embed_running += 1
        self.peak_embed_running = max(self.peak_embed_running, self.embed_running)
        try:
            yield
        finally:
            self.embed_running -= 1
            if gate is not None:
                gate.release()

    def _next_fault(self) -> str | None:
        if self.faults["schedule"]:
            kind = str(self.faults["schedule"].pop(0))
            return None if kind == "ok" else kind
        if self.faults["fail_rate"] and self._rng.random() < self.faults["fail_rate"]:
            return str(self.faults["fail_with"])
        return None

    async def _inject(self, request: web.Request, kind: str,
                      handler: Any) -> web.StreamResponse:
        if kind == "hang":
            await asyncio.Event().wait()
        if kind == "truncate":
            request["fault"] = kind  # a stream cuts itself short (`_stream`)
            response = await handler(request)
            if isinstance(response, web.Response) and response.body:  # a whole answer: halved
                return web.Response(body=response.body[:len(response.body) // 2],
                                    content_type="application/json")
            return response
        if kind == "trickle":
            response = await handler(request)
            assert isinstance(response, web.Response), "trickle slows whole answers only"
            return await self._trickle(request, response.body)
        if kind == "huge":
            return await self._huge(request)
        if kind == "unschema":  # JSON that breaks the request's schema (`fake_json`)
            request["fault"] = kind
            return await handler(request)
        if kind == "malformed":
            return web.Response(body=b'{"choices": [{"mess', content_type="application/json")
        if kind == "reset":
            response = web.StreamResponse(headers={"Content-Type": "application/json",
                                                   "Content-Length": "1000"})
            await response.prepare(request)
            await response.write(b'{"data": [')
            transport = request.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()  # with SO_LINGER 0: an RST, not a clean close
            raise asyncio.CancelledError
        status = int(kind)
        headers = {"Retry-After": str(self.faults["retry_after"])} if status in (429, 503) else {}
        return _error(request, status, f"injected {status}{_echo_key(request)}", headers)

    async def _trickle(self, request: web.Request, body: bytes) -> web.StreamResponse:
        """`body` one byte at a time, `trickle_ms` apart, as a slow or hostile server sends."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        for i in range(len(body)):
            await response.write(body[i:i + 1])
            await asyncio.sleep(self.faults["trickle_ms"] / 1000)
        await response.write_eof()
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        """A valid JSON object of `huge_bytes`, chunked (no Content-Length to warn the client)."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        left = self.faults["huge_bytes"] - len(b'{"pad": ""}')
        await response.write(b'{"pad": "')
        block = b"x" * 2**20
        while left > 0:
            await response.write(block[:left])
            left -= len(block)
        await response.write(b'"}')
        await response.write_eof()
        return response

    async def _body(self, request: web.Request) -> Any:
        body = await request.json()
        self.last[request.path] = body
        return body

    def _unknown_model(self, request: web.Request, model: str) -> web.Response | None:
        models = self.config["models"]
        if models is None or model in models:
            return None
        if request.path.startswith("/api/"):
            return _error(request, 404, f'model "{model}" not found, try pulling it first')
        return _error(request, 404, f"The model `{model}` does not exist.")

    async def _stream(self, request: web.Request, content_type: str,
                      lines: list[bytes]) -> web.StreamResponse:
        if request.get("fault") == "truncate":  # half the pieces, no finish, no end marker
            lines = lines[:max(1, (len(lines) - 2) // 2)]
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        delay = self.config["stream_delay_ms"] / 1000
        for line in lines:
            await response.write(line)
            if delay:
                await asyncio.sleep(delay)
        await response.write_eof()
        return response

    # -- OpenAI ---------------------------------------------------------------------------------

    async def _embed_request(self, request: web.Request
                             ) -> web.StreamResponse | tuple[dict[str, Any], list[str], int]:
        """(body, texts, dim) of an embedding request of either API, counting its texts; or
        the error response for an unknown model."""
        body = await self._body(request)
        if missing := self._unknown_model(request, body["model"]):
            return missing
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        self.inputs[request.path] += len(texts)
        return body, texts, body.get("dimensions") or self.config["dim"]

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        parsed = await self._embed_request(request)
        if isinstance(parsed, web.StreamResponse):
            return parsed
        body, texts, dim = parsed
        as_base64 = body.get("encoding_format") == "base64"
        per_token = self.config["pooling"] == "none"
        data = []
        for i, text in enumerate(texts):
            vector: Any = fake_vector(text, dim)
            if per_token:  # llama.cpp sends floats then, whatever the encoding_format
                vector = [fake_vector(token, dim) for token in text.split() or [""]]
            elif as_base64:
                vector = base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        if self.config["shuffle"]:
            data.reverse()
        prompt = self._report(texts)
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if missing := self._unknown_model(request, body["model"]):
            return missing
        prompt = _last_user_message(body["messages"])
        reply = next((r for text, r in self.config["replies"].items() if text in prompt), None)
        calls = fake_tool_round(self.config, body)
        if calls is not None:
            return await self._openai_tool_calls(request, body, calls)
        if self.config["tool_script"] is not None and body.get("tools"):
            reply = fake_tool_answer(body["messages"])
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        if schema is not None:
            reply = json.dumps(fake_json(schema, prompt, request.get("fault") == "unschema"))
        tokens = fake_tokens(prompt, body.get("max_tokens")) if reply is None \
            else re.findall(r"\s*\S+", reply)
        head = {"id": "chatcmpl-fake", "created": 0, "model": body["model"]}
        prompt_tokens = self._report(_contents(body["messages"]), len(tokens))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(tokens),
                 "total_tokens": prompt_tokens + len(tokens)}
        if not body.get("stream"):
            message = {"role": "assistant", "content": "".join(tokens)}
            return web.json_response({**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage})

        def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            event = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        lines = [chunk({"role": "assistant", "content": ""})]
        lines += [chunk({"content": token}) for token in tokens]
        lines.append(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            event = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            lines.append(b"data: " + json.dumps(event).encode() + b"\n\n")
        lines.append(b"data: [DONE]\n\n")
        return await self._stream(request, "text/event-stream", lines)

    async def _openai_tool_calls(self, request: web.Request, body: dict[str, Any],
                                 calls: list[dict[str, Any]]) -> web.StreamResponse:
        """A turn that calls the scripted tools, whole or streamed in pieces."""
        head = {"id": "chatcmpl-fake", "created": 0, "model": body["model"]}
        ids = [f"call_{len(body['messages'])}_{i}" for i in range(len(calls))]
        if not body.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": ids[i], "type": "function", "function": {
                    "name": c["name"], "arguments": json.dumps(c.get("arguments", {}))}}
                for i, c in enumerate(calls)]}
            return web.json_response({**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls"}]})

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            event = {**head, "object": "chat.completion.chunk", "choices": [choice]}
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        lines = [chunk({"role": "assistant", "content": None})]
        for i, c in enumerate(calls):
            text = json.dumps(c.get("arguments", {}))
            lines.append(chunk({"tool_calls": [{"index": i, "id": ids[i], "type": "function",
                                                "function": {"name": c["name"],
                                                             "arguments": ""}}]}))
            for part in (text[:len(text) // 2], text[len(text) // 2:]):
                lines.append(chunk({"tool_calls": [{"index": i, "function": {
                    "arguments": part}}]}))
        lines += [chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
        return await self._stream(request, "text/event-stream", lines)

    async def _openai_models(self, request: web.Request) -> web.StreamResponse:
        names = self.config["models"] or ["fake-model"]
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "owned_by": "fake"} for name in names]})

    def _report(self, texts: list[str], completion_tokens: int = 0) -> int:
        """Count a response's tokens in the stats; its prompt tokens."""
        prompt_tokens = fake_prompt_tokens(texts)
        self.usage["prompt_tokens"] += prompt_tokens
        self.usage["completion_tokens"] += completion_tokens
        return prompt_tokens

    # -- Ollama ---------------------------------------------------------------------------------

    async def _ollama_embed(self, request: web.Request) -> web.StreamResponse:
        parsed = await self._embed_request(request)
        if isinstance(parsed, web.StreamResponse):
            return parsed
        body, texts, dim = parsed
        return web.json_response({"model": body["model"],
                                  "embeddings": [fake_vector(t, dim) for t in texts],
                                  "prompt_eval_count": self._report(texts)})

    async def _ollama_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if missing := self._unknown_model(request, body["model"]):
            return missing
        options = body.get("options") or {}
        tokens = fake_tokens(_last_user_message(body["messages"]), options.get("num_predict"))
        calls = fake_tool_round(self.config, body)
        if calls is not None:
            tokens = []
        elif self.config["tool_script"] is not None and body.get("tools"):
            tokens = re.findall(r"\s*\S+", fake_tool_answer(body["messages"]))
        if isinstance(body.get("format"), dict):
            tokens = re.findall(r"\s*\S+", json.dumps(fake_json(
                body["format"], _last_user_message(body["messages"]),
                request.get("fault") == "unschema")))

        def event(content: str, done: bool) -> dict[str, Any]:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if calls is not None and (done or not body.get("stream", True)):
                message["tool_calls"] = [{"function": {"name": c["name"], "arguments": c.get(
                    "arguments", {})}} for c in calls]
            return {"model": body["model"], "created_at": "1970-01-01T00:00:00Z",
                    "message": message, "done": done}

        counts = {"done_reason": "stop", "eval_count": len(tokens),
                  "prompt_eval_count": self._report(_contents(body["messages"]), len(tokens))}
        if not body.get("stream", True):
            return web.json_response({**event("".join(tokens), True), **counts})
        lines = [json.dumps(event(token, False)).encode() + b"\n" for token in tokens]
        lines.append(json.dumps({**event("", True), **counts}).encode() + b"\n")
        return await self._stream(request, "application/x-ndjson", lines)

    # -- rerank ---------------------------------------------------------------------------------

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        """Cohere-style at /v1/rerank (best `top_n` first), TEI-style at /rerank (all texts)."""
        body = await self._body(request)
        tei = request.path == "/rerank"
        documents = body["texts"] if tei else body["documents"]
        self.inputs[request.path] += len(documents)
        scores = [fake_relevance(body["query"], doc) for doc in documents]
        order = sorted(range(len(documents)), key=lambda i: (-scores[i], i))
        if tei:
            return web.json_response([{"index": i, "score": scores[i]} for i in order])
        top = order[:body.get("top_n") or len(order)]
        return web.json_response({"model": body.get("model"), "results": [
            {"index": i, "relevance_score": scores[i]} for i in top]})

    # -- SearxNG --------------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.last[request.path] = query
        if query.get("format") != "json":
            return web.Response(status=403, text="403 Forbidden")
        results = [{**r, "category": query.get("categories", "general")}
                   for r in fake_results(query.get("q", ""))]
        return web.json_response({"query": query.get("q", ""), "results": results,
                                  "number_of_results": len(results), "answers": []})

    # -- control --------------------------------------------------------------------------------

    async def _get_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "requests": dict(self.requests), "total": sum(self.requests.values()),
            "usage": {"prompt_tokens": self.usage["prompt_tokens"],
                      "completion_tokens": self.usage["completion_tokens"]},
            "inputs": dict(self.inputs), "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "peak_embed_running": self.peak_embed_running, "last": self.last,
        })

    async def _delete_stats(self, request: web.Request) -> web.StreamResponse:
        self._reset_stats()
        return await self._get_stats(request)

    async def _settings(self, request: web.Request) -> web.StreamResponse:
        """GET, POST (merge) or DELETE (back to startup) /_config or /_faults."""
        is_config = request.path == "/_config"
        settings = self.config if is_config else self.faults
        initial = self._initial[0 if is_config else 1]
        if request.method == "DELETE":
            settings.clear()
            settings.update(copy.deepcopy(initial))
        elif request.method == "POST":
            update = await request.json()
            if unknown := set(update) - set(initial):
                return web.json_response({"error": f"unknown settings {sorted(unknown)}"},
                                         status=400)
            settings.update(update)
        if not is_config and request.method != "GET":
            self._rng.seed(settings["seed"])
        return web.json_response(settings)

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        self.config, self.faults = copy.deepcopy(self._initial)
        self._rng.seed(self.faults["seed"])
        self._reset_stats()
        return web.json_response({"config": self.config, "faults": self.faults})


def _contents(messages: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("content") or "") for m in messages]


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    return next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
                "")


def _echo_key(request: web.Request) -> str:
    """The request's bearer token, which careless servers quote: clients must not repeat it."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return f" (key: {token})" if token else ""


def _error(request: web.Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> web.Response:
    """An error in the caller's dialect: Ollama's `{"error": str}` or OpenAI's object."""
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"error": message}
    else:
        body = {"error": {"message": message, "type": "fake_error", "code": status}}
    return web.json_response(body, status=status, headers=headers)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--stream-delay-ms", type=float, default=0.0)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--models", help="comma-separated model names; others get a 404")
    parser.add_argument("--shuffle", action="store_true", help="embedding rows in reverse")
    parser.add_argument("--pooling", choices=["mean", "none"], default="mean",
                        help="none: per-token embeddings, as llama.cpp's server without pooling")
    parser.add_argument("--embed-concurrency", type=int, metavar="N",
                        help="work on at most N embedding requests at once (the others "
                             "queue), as a GPU server does; default: any number")
    parser.add_argument("--api-key", help="require Authorization: Bearer API_KEY")
    parser.add_argument("--basic-auth", metavar="USER:PASSWORD",
                        help="require this Basic authorization")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--fail-with", default="500",
                        help="status code, hang, malformed, reset, truncate, trickle, huge")
    parser.add_argument("--schedule", default="", help="comma-separated faults, 'ok' for none")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    server = FakeLLMServer(
        config={"latency_ms": args.latency_ms, "stream_delay_ms": args.stream_delay_ms,
                "dim": args.dim, "shuffle": args.shuffle, "pooling": args.pooling,
                "embed_concurrency": args.embed_concurrency,
                "models": args.models.split(",") if args.models else None},
        faults={"api_key": args.api_key, "basic_auth": args.basic_auth,
                "fail_rate": args.fail_rate,
                "fail_with": args.fail_with, "retry_after": args.retry_after,
                "schedule": [s for s in args.schedule.split(",") if s], "seed": args.seed},
    )
    port = await server.start(args.host, args.port)
    print(port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
