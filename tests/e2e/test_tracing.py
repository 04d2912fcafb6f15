"""OpenTelemetry spans: one run of rag_openai.yaml against the fake server makes the tree
run → node visits → calls, with token counts, under the caller's own span; many runs share
a batch call, whose span links their node visits."""

from __future__ import annotations

import asyncio

import pytest

from llmkit import load_pipeline
from tests.e2e.conftest import PIPELINES, server_env
from tests.extras import require

require("opentelemetry.sdk", "otel")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider():
    """The SDK's provider with an in-memory exporter, for this module's tests only (the API
    sets a provider once per process: undone after, as OpenTelemetry's own tests do)."""
    from opentelemetry.util._once import Once

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(tracer_provider)
    yield tracer_provider
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def spans():
    _EXPORTER.clear()
    return _EXPORTER


@pytest.fixture
def rag(fake_server, tmp_path):
    p = load_pipeline(PIPELINES / "rag_openai.yaml", env=server_env(fake_server, tmp_path))
    p.run_many([{"question": "warm up: build the index"}])
    return p


def by_id(finished):
    return {s.context.span_id: s for s in finished}


def test_one_run_is_a_tree_of_run_nodes_and_calls_with_tokens(rag, spans, fake_server):
    fake_server.control.reset_stats()
    spans.clear()
    with trace.get_tracer("test").start_as_current_span("request") as request:
        rag.run(question="Why do tides rise?")
    finished = spans.get_finished_spans()
    ids = by_id(finished)
    [run] = [s for s in finished if s.name == "llmkit.run"]
    assert run.parent.span_id == request.get_span_context().span_id
    assert run.attributes["llmkit.pipeline"] == "rag_openai"
    nodes = [s for s in finished if s.name == "llmkit.node"]
    assert sorted(s.attributes["llmkit.node"] for s in nodes) == [
        "context", "embed", "generate", "search"]
    assert all(s.parent.span_id == run.context.span_id for s in nodes)
    calls = [s for s in finished if s.name == "llmkit.call"]
    assert sorted(s.attributes["llmkit.node"] for s in calls) == [
        "context", "embed", "generate", "search"]
    for call in calls:
        parent = ids[call.parent.span_id]
        assert parent.name == "llmkit.node"
        assert parent.attributes["llmkit.node"] == call.attributes["llmkit.node"]
        assert call.attributes["llmkit.batch_size"] == 1
    usage = fake_server.control.stats()["usage"]
    generate = next(c for c in calls if c.attributes["llmkit.node"] == "generate")
    assert generate.attributes["llmkit.completion_tokens"] == usage["completion_tokens"]
    assert run.attributes["llmkit.prompt_tokens"] == usage["prompt_tokens"]
    assert run.attributes["llmkit.completion_tokens"] == usage["completion_tokens"]


def test_a_batch_call_serving_many_runs_links_their_node_visits(rag, spans):
    async def ask() -> None:
        await asyncio.gather(*(rag.arun(question=f"Question {i}?") for i in range(5)))

    spans.clear()
    asyncio.run(ask())
    finished = spans.get_finished_spans()
    runs = [s for s in finished if s.name == "llmkit.run"]
    assert len(runs) == 5
    [embed] = [s for s in finished
               if s.name == "llmkit.call" and s.attributes["llmkit.node"] == "embed"]
    assert embed.attributes["llmkit.batch_size"] == 5
    visits = {s.context.span_id for s in finished
              if s.name == "llmkit.node" and s.attributes["llmkit.node"] == "embed"}
    linked = {link.context.span_id for link in embed.links}
    assert len(visits) == 5 and linked | {embed.parent.span_id} == visits


def test_a_cache_hit_is_a_node_visit_without_a_call(rag, spans, tmp_path):
    from llmkit.cache import open_cache

    store = open_cache(f"sqlite:///{tmp_path / 'cache.db'}")
    rag.run(question="Cached?", cache=store)
    spans.clear()
    rag.run(question="Cached?", cache=store)
    store.close()
    finished = spans.get_finished_spans()
    assert not [s for s in finished if s.name == "llmkit.call"
                and s.attributes["llmkit.node"] == "generate"]
    hits = [s for s in finished if s.name == "llmkit.node" and s.attributes["llmkit.cache_hit"]]
    assert "generate" in {s.attributes["llmkit.node"] for s in hits}


def test_the_call_span_is_current_in_worker_threads_and_async_nodes(spans):
    from llmkit.core.node import Node
    from llmkit.core.pipeline import Pipeline

    seen: dict[str, int] = {}

    class InThread(Node):
        inputs, outputs = {"x": int}, {"y": int}

        def run(self, x: int) -> dict:
            seen["thread"] = trace.get_current_span().get_span_context().span_id
            return {"y": x}

    class Async(Node):
        inputs, outputs = {"y": int}, {"z": int}

        async def run(self, y: int) -> dict:
            seen["async"] = trace.get_current_span().get_span_context().span_id
            return {"z": y}

    p = (Pipeline("threads", inputs=["x"]).add("a", InThread().configure(inline=False), x="x")
         .add("b", Async(), y="a.y").outputs(z="b.z"))
    spans.clear()
    assert p.run(x=1) == {"z": 1}
    calls = {s.attributes["llmkit.node"]: s.context.span_id
             for s in spans.get_finished_spans() if s.name == "llmkit.call"}
    assert seen == {"thread": calls["a"], "async": calls["b"]}


def test_runs_a_caller_leaves_behind_end_as_withdrawn(spans):
    import time

    import anyio

    from llmkit.core.node import Node
    from llmkit.core.pipeline import Pipeline

    class Slow(Node):
        inputs, outputs = {"x": int}, {"x": int}

        async def run(self, x: int) -> dict:
            await anyio.sleep(0 if x == 0 else 0.5)
            return {"x": x}

    p = Pipeline("slow", inputs=["x"]).add("a", Slow(), x="x").outputs(x="a.x")
    spans.clear()
    results = p.iter_many([{"x": x} for x in range(8)])
    assert next(results) == {"x": 0}
    results.close()  # the seven runs in flight are withdrawn
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        runs = [s for s in spans.get_finished_spans() if s.name == "llmkit.run"]
        if len(runs) == 8:
            break
        time.sleep(0.05)
    assert sorted(bool(s.attributes.get("llmkit.withdrawn")) for s in runs) == [False] + [
        True] * 7


def test_a_run_that_fails_while_its_next_call_is_being_started_is_no_engine_failure(spans):
    # n1 (inline) fails a run in the same dispatch that started its call at n0 (a thread):
    # that call starts after the run's span has ended, and must not break the scheduler.
    from tests.engine.test_property import build

    node = {"upstream": [], "reads_input": True, "max_batch": 1, "max_wait_ms": 0,
            "concurrency": 1, "modulus": 0, "delay": 0}
    spec = [{**node, "kind": "sync"}, {**node, "kind": "inline", "modulus": 13},
            {**node, "kind": "sync"}]
    async def many() -> list:
        return await build(spec).arun_many([{"x": x} for x in range(10)], on_error="return",
                                           window=2)

    for _ in range(20):
        results = asyncio.run(many())
        assert not [r for r in results if "scheduler failed" in str(r)]
