"""Random DAGs give exactly what a naive sequential evaluator gives, on asyncio and trio.

Each node computes a fixed arithmetic function of its inputs and fails on some values, so
the property covers results and failures: a run fails exactly when the reference hits a
failing node, and the error names a node that fails in the reference. Some nodes are
routes (a branch by the value's remainder, with or without a default), joins (`coalesce`)
or guarded (`when:`), and some inputs have defaults: the reference skips nodes as
docs/control-flow.md says, and every output that `validate` accepts is computed in every
run that does not fail.
"""

from __future__ import annotations

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError, PipelineError
from llmkit.nodes.control.nodes import Coalesce, Route

KINDS = ["sync", "async", "sync_batch", "async_batch", "inline"]


def compute(index: int, values: list[int]) -> int:
    return (sum(v * (k + 2) for k, v in enumerate(values)) + index * 7 + 1) % 10_007


def fails(value: int, modulus: int) -> bool:
    return modulus > 0 and value % modulus == 0


def make_node(index: int, kind: str, ports: list[str], modulus: int, delay: float,
              optional: tuple[str, ...] = ()) -> Node:
    def one(item: dict) -> dict:
        value = compute(index, [item[p] for p in ports])
        if fails(value, modulus):
            raise ValueError(f"n{index} refuses {value}")
        return {"out": value}

    body: dict = {"inputs": {p: int for p in ports}, "outputs": {"out": int},
                  "defaults": dict.fromkeys(optional, 0)}
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


ROLES = ["compute", "compute", "compute", "route", "join"]


def ports_of(spec: dict) -> list[str]:
    """The output ports a node of `spec` has: a route's branches, a join's value."""
    if spec["role"] == "route":
        return ["b0", "b1"] + (["b2"] if spec["default"] else [])
    return ["value"] if spec["role"] == "join" else ["out"]


@st.composite
def dags(draw):
    n = draw(st.integers(1, 12))
    spec: list[dict] = []
    for i in range(n):
        refs = [(u, port) for u in range(i) for port in ports_of(spec[u])]
        chosen = draw(st.lists(st.sampled_from(refs), max_size=3, unique_by=lambda r: r[0])) \
            if refs else []
        role = draw(st.sampled_from(ROLES)) if i else "compute"
        if role == "join" and not chosen:
            role = "compute"
        routes = [r for r in refs if spec[r[0]]["role"] == "route"]
        spec.append({
            "role": role,
            "upstream": chosen,
            "default": draw(st.booleans()),  # a route's default branch
            "optional": draw(st.lists(st.booleans(), min_size=4, max_size=4)),
            "guards": draw(st.lists(st.sampled_from(routes), max_size=1)) if routes else [],
            "reads_input": not chosen or role == "route" or draw(st.booleans()),
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


def sources_of(s: dict) -> list[str]:
    """What a node reads: `x` first when it reads the input (a route reads only its first
    source), then its upstream ports."""
    refs = [f"n{u}.{port}" for u, port in s["upstream"]]
    if s["role"] == "route":
        return ["x"] if s["reads_input"] or not refs else refs[:1]
    return (["x"] if s["reads_input"] else []) + refs


#: what a node spec written before routes (tests/e2e/test_tracing.py) leaves out
PLAIN = {"role": "compute", "guards": [], "optional": [False] * 4, "default": False}


def build(spec) -> Pipeline:
    p = Pipeline(inputs=["x"])
    spec = [{**PLAIN, **s} for s in spec]
    for i, s in enumerate(spec):
        sources = sources_of(s)
        ports = [f"p{k}" for k in range(len(sources))]
        if s["role"] == "route":
            node: Node = Route({"b0": "p0 % 3 == 0", "b1": "p0 % 3 == 1"},
                               default="b2" if s["default"] else None)
        elif s["role"] == "join":
            node = Coalesce()
        else:
            optional = tuple(p for p, o in zip(ports, s["optional"], strict=False) if o)
            node = make_node(i, s["kind"], ports, s["modulus"], s["delay"], optional).configure(
                max_batch=s["max_batch"], max_wait_ms=s["max_wait_ms"],
                concurrency=s["concurrency"])
        p.add(f"n{i}", node, **dict(zip(ports, sources, strict=True)))
        if s["guards"]:
            p.when(f"n{i}", *(f"n{u}.{port}" for u, port in s["guards"]))
    outputs = {f"o{i}": f"n{i}.{ports_of(s)[0]}" for i, s in enumerate(spec)
               if s["role"] != "route"}
    while True:  # keep the outputs `validate` accepts: no choice of branches skips them
        p.outputs(**outputs)
        try:
            p.validate()
            return p
        except PipelineError as exc:
            assert exc.output in outputs, exc
            del outputs[exc.output]


def node_of(ref: str) -> int:
    return int(ref[1:].partition(".")[0])


def reference(spec, x: int, outputs: dict[str, str]):
    """The outputs for this input, or the set of nodes that fail for it; asserts that no
    output `validate` accepted is skipped."""
    outs: dict[int, dict[str, int]] = {}  # ports of the nodes that ran (a route: its branch)
    blocked: set[int] = set()  # nodes that failed, and those after them, which never run
    failing = set()
    for i, s in enumerate(spec):
        sources = sources_of(s)
        upstream = {node_of(r) for r in sources if r != "x"} | {u for u, _ in s["guards"]}
        if upstream & blocked:
            blocked.add(i)
            continue
        present = [r == "x" or r.partition(".")[2] in outs.get(node_of(r), {}) for r in sources]
        optional = [s["role"] == "join" or (s["role"] == "compute" and s["optional"][k])
                    for k in range(len(sources))]
        if not all(port in outs.get(u, {}) for u, port in s["guards"]) \
                or any(not p and not o for p, o in zip(present, optional, strict=True)) \
                or not any(present):
            continue  # skipped
        values = [x if r == "x" else outs[node_of(r)][r.partition(".")[2]] if ok else 0
                  for r, ok in zip(sources, present, strict=True)]
        if s["role"] == "route":
            branch = ["b0", "b1", "b2" if s["default"] else None][values[0] % 3]
            if branch is None:
                failing.add(f"n{i}")
                blocked.add(i)
            else:
                outs[i] = {branch: values[0]}
        elif s["role"] == "join":
            outs[i] = {"value": next(v for v, ok in zip(values, present, strict=True) if ok)}
        else:
            value = compute(i, values)
            if fails(value, s["modulus"]):
                failing.add(f"n{i}")
                blocked.add(i)
            else:
                outs[i] = {"out": value}
    if failing:
        return failing
    result = {}
    for name, ref in outputs.items():
        port = ref.partition(".")[2]
        assert port in outs.get(node_of(ref), {}), f"validate accepted {name}, skipped at {x}"
        result[name] = outs[node_of(ref)][port]
    return result


@pytest.mark.anyio
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=dags())
async def test_random_dags_match_the_sequential_reference(anyio_backend, case):
    spec, runs, window = case
    p = build(spec)
    with anyio.fail_after(30):
        results = await p.arun_many([{"x": x} for x in range(runs)],
                                               on_error="return", window=window)
    check_many(spec, p.output_map, list(range(runs)), results)


@st.composite
def callers(draw):
    """2-5 callers, each with its own inputs, its entry point, and when it starts."""
    return [(draw(st.sampled_from(["arun", "return", "raise"])),
             draw(st.lists(st.integers(0, 200), min_size=1, max_size=12)),
             draw(st.sampled_from([0, 0, 0.002, 0.01])))
            for _ in range(draw(st.integers(2, 5)))]


def check_many(spec, outputs: dict[str, str], xs: list[int], outcome) -> None:
    """`outcome` of `xs` in one call is what the reference gives for each input."""
    if isinstance(outcome, NodeError):  # on_error="raise": a run that fails in the reference
        expected = reference(spec, xs[outcome.run], outputs)
        assert isinstance(expected, set) and outcome.node in expected, (outcome, expected)
        return
    assert len(outcome) == len(xs)
    for x, result in zip(xs, outcome, strict=True):
        expected = reference(spec, x, outputs)
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
        check_many(spec, p.output_map, xs[:1] if how == "arun" else xs, outcomes[i])
