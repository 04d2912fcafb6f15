"""Random DAGs give exactly what a naive sequential evaluator gives, on asyncio and trio.

Each node computes a fixed arithmetic function of its inputs and fails on some values, so
the property covers results and failures: a run fails exactly when the reference hits a
failing node, and the error names a node that fails in the reference.
"""

from __future__ import annotations

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError

KINDS = ["sync", "async", "sync_batch", "async_batch", "inline"]


def compute(index: int, values: list[int]) -> int:
    return (sum(v * (k + 2) for k, v in enumerate(values)) + index * 7 + 1) % 10_007


def fails(value: int, modulus: int) -> bool:
    return modulus > 0 and value % modulus == 0


def make_node(index: int, kind: str, ports: list[str], modulus: int, delay: float) -> Node:
    def one(item: dict) -> dict:
        value = compute(index, [item[p] for p in ports])
        if fails(value, modulus):
            raise ValueError(f"n{index} refuses {value}")
        return {"out": value}

    body: dict = {"inputs": {p: int for p in ports}, "outputs": {"out": int}}
    if kind in ("sync", "inline"):
        body["run"] = lambda self, **item: one(item)
    elif kind == "async":
        async def run(self, **item):
            await anyio.sleep(delay)
            return one(item)
        body["run"] = run
    elif kind == "sync_batch":
        def run_batch(self, items):
            return [one(item) for item in items]
        body["run_batch"] = run_batch
    else:
        async def arun_batch(self, items):
            await anyio.sleep(delay)
            return [one(item) for item in items]
        body["run_batch"] = arun_batch
    node = type(f"N{index}", (Node,), body)()
    return node.configure(inline=kind == "inline")


@st.composite
def dags(draw):
    n = draw(st.integers(1, 12))
    spec = []
    for i in range(n):
        upstream = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        spec.append({
            "upstream": upstream,
            "reads_input": not upstream or draw(st.booleans()),
            "kind": draw(st.sampled_from(KINDS)),
            "max_batch": draw(st.integers(1, 40)),
            "max_wait_ms": draw(st.sampled_from([0, 1, 5])),
            "concurrency": draw(st.integers(1, 8)),
            "modulus": draw(st.sampled_from([0, 0, 0, 13, 29])),
            "delay": draw(st.sampled_from([0, 0, 0.001])),
        })
    runs = draw(st.integers(1, 50))
    window = draw(st.sampled_from([1, 2, 7, 1024]))
    return spec, runs, window


def build(spec) -> Pipeline:
    p = Pipeline(inputs=["x"])
    for i, s in enumerate(spec):
        sources = (["x"] if s["reads_input"] else []) + [f"n{u}.out" for u in s["upstream"]]
        ports = [f"p{k}" for k in range(len(sources))]
        node = make_node(i, s["kind"], ports, s["modulus"], s["delay"]).configure(
            max_batch=s["max_batch"], max_wait_ms=s["max_wait_ms"],
            concurrency=s["concurrency"])
        p.add(f"n{i}", node, **dict(zip(ports, sources, strict=True)))
    return p.outputs(**{f"o{i}": f"n{i}.out" for i in range(len(spec))})


def reference(spec, x: int):
    """Outputs of every node, or the set of nodes that fail for this input."""
    values: dict[int, int] = {}
    failing = set()
    for i, s in enumerate(spec):
        if any(u not in values for u in s["upstream"]):
            continue  # an upstream node failed: this one never runs
        inputs = ([x] if s["reads_input"] else []) + [values[u] for u in s["upstream"]]
        value = compute(i, inputs)
        if fails(value, s["modulus"]):
            failing.add(f"n{i}")
        else:
            values[i] = value
    if failing:
        return failing
    return {f"o{i}": v for i, v in values.items()}


@pytest.mark.anyio
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dags())
async def test_random_dags_match_the_sequential_reference(anyio_backend, case):
    spec, runs, window = case
    with anyio.fail_after(30):
        results = await build(spec).arun_many([{"x": x} for x in range(runs)],
                                               on_error="return", window=window)
    check_many(spec, list(range(runs)), results)


@st.composite
def callers(draw):
    """2-5 callers, each with its own inputs, its entry point, and when it starts."""
    return [(draw(st.sampled_from(["arun", "return", "raise"])),
             draw(st.lists(st.integers(0, 200), min_size=1, max_size=12)),
             draw(st.sampled_from([0, 0, 0.002, 0.01])))
            for _ in range(draw(st.integers(2, 5)))]


def check_many(spec, xs: list[int], outcome) -> None:
    """`outcome` of `xs` in one call is what the reference gives for each input."""
    if isinstance(outcome, NodeError):  # on_error="raise": a run that fails in the reference
        expected = reference(spec, xs[outcome.run])
        assert isinstance(expected, set) and outcome.node in expected, (outcome, expected)
        return
    assert len(outcome) == len(xs)
    for x, result in zip(xs, outcome, strict=True):
        expected = reference(spec, x)
        if isinstance(expected, set):
            assert isinstance(result, NodeError), (x, result, expected)
            assert result.node in expected
        else:
            assert result == expected


@pytest.mark.anyio
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dags(), callers=callers())
async def test_concurrent_callers_each_match_the_sequential_reference(anyio_backend, case,
                                                                      callers):
    spec, _, window = case
    p = build(spec)
    outcomes: dict[int, object] = {}

    async def call(i: int, how: str, xs: list[int], delay: float) -> None:
        await anyio.sleep(delay)
        try:
            if how == "arun":
                outcomes[i] = [await p.arun(x=xs[0])]
            else:
                outcomes[i] = await p.arun_many([{"x": x} for x in xs], on_error=how,
                                                window=window)
        except NodeError as exc:
            outcomes[i] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for i, caller in enumerate(callers):
                tg.start_soon(call, i, *caller)
    for i, (how, xs, _) in enumerate(callers):
        check_many(spec, xs[:1] if how == "arun" else xs, outcomes[i])
