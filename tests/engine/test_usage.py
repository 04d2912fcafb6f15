"""Token accounting in the engine: what a node's backends report (`record_usage`) counts for
the call it runs in, wherever the call runs (event loop, worker thread, async task), summed
per node in the pipeline's and the caller's `Profile`, and shared out among a batch's runs."""

from __future__ import annotations

import pytest

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from llmkit.core.usage import Usage, record_usage


class Spend(Node):
    """Reports x prompt tokens and 1 completion token per item."""

    inputs = {"x": int}
    outputs = {"x": int}

    def run(self, x: int) -> dict:
        record_usage(x, 1)
        return {"x": x}


class AsyncSpend(Spend):
    async def run(self, x: int) -> dict:  # type: ignore[override]
        record_usage(x, 1)
        return {"x": x}


class BatchSpend(Spend):
    def run_batch(self, items: list[dict]) -> list[dict]:
        record_usage(sum(i["x"] for i in items), len(items), cost=0.5)  # one call, one usage
        return items


def chain(node: Node) -> Pipeline:
    return Pipeline("spend", inputs=["x"]).add("n", node, x="x").outputs(x="n.x")


XS = [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("make", [
    lambda: Spend().configure(inline=True),
    lambda: Spend().configure(inline=False),
    AsyncSpend,
    lambda: BatchSpend().configure(max_batch=3),
], ids=["inline", "thread", "async", "batch"])
def test_tokens_are_summed_per_node_and_per_run(make):
    p = chain(make())
    profile = Profile()
    events = []
    p.run_many([{"x": x} for x in XS], profile=profile, on_event=events.append)
    assert (profile.nodes["n"].prompt_tokens, profile.nodes["n"].completion_tokens) == (
        sum(XS), len(XS))
    runs = [e.usage for e in events if e.kind == "run_finished"]
    total = Usage()
    for usage in runs:
        total.add(usage)
    assert (total.prompt_tokens, total.completion_tokens) == (sum(XS), len(XS))
    calls = [e.usage for e in events if e.kind == "node_finished"]
    assert sum(u.prompt_tokens for u in calls) == sum(XS)


def test_a_batch_call_is_shared_out_among_its_runs():
    p = chain(BatchSpend().configure(max_batch=3))
    events = []
    p.run_many([{"x": 10}, {"x": 0}, {"x": 0}], on_event=events.append)
    shares = sorted((e.usage.prompt_tokens, e.usage.completion_tokens)
                    for e in events if e.kind == "run_finished")
    assert shares == [(3, 1), (3, 1), (4, 1)]  # 10 tokens of one call, the remainder first
    assert sum(e.usage.cost for e in events if e.kind == "run_finished") == pytest.approx(0.5)


def test_the_pipeline_counts_tokens_without_a_profile_and_apart_from_the_callers():
    p = chain(AsyncSpend())
    p.run(x=5)
    mine = Profile()
    p.run(x=2, profile=mine)
    assert mine.usage == Usage(2, 1)
    assert mine.tokens == 3


def test_no_usage_outside_a_run():
    record_usage(5, 5)  # a backend used on its own: nothing to count it for, no error


def test_profile_prints_as_its_table_with_tokens_only_when_spent():
    profile = Profile()
    chain(Spend()).run_many([{"x": 1}], profile=profile)
    assert str(profile) == profile.table()
    assert "prompt tok" in str(profile) and "cost" not in str(profile).split("\n")[0]
    quiet = Profile()
    quiet.node("a").record_call(2, 0.001, 0)
    head = str(quiet).split("\n")[0].split()
    assert head[0] == "node" and "prompt" not in head
    assert str(quiet).split("\n")[2].split()[:3] == ["a", "1", "2"]
    html = profile._repr_html_()
    assert html.startswith("<table>") and "<td>n</td>" in html and "prompt tok" in html


def test_profile_html_escapes_node_names():
    profile = Profile()
    profile.node("<b>").record_call(1, 0.0, 0)
    assert "&lt;b&gt;" in profile._repr_html_() and "<b>" not in profile._repr_html_()


def test_cost_column_when_priced():
    profile = Profile()
    chain(BatchSpend()).run_many([{"x": 1}], profile=profile)
    assert profile.usage.cost == pytest.approx(0.5)
    assert str(profile).split("\n")[0].split()[-1] == "cost"


def test_merge_adds_every_counter_and_the_call_times():
    a, b = Profile(), Profile()
    chain(Spend()).run_many([{"x": 3}], profile=a)
    chain(Spend()).run_many([{"x": 4}, {"x": 5}], profile=b)
    a.node("n").merge(b.node("n"))
    merged = a.node("n")
    assert (merged.items, merged.prompt_tokens, merged.completion_tokens) == (3, 12, 3)
    assert len(merged._times) == merged.calls
