"""The Dask executor against a real two-process LocalCluster: the local runner's results,
error records and order, through the shipped rag pipeline and a CPU-bound custom node; and a
worker killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from llmkit.errors import InputError, NodeError
from tests.dask.conftest import REPO
from tests.dask.nodes import LOGGED, digest_pipeline

from llmkit.dask import DaskExecutor  # isort: skip  (after the conftest's require)


def comparable(result):
    """A result as a value: an error by its type, node and message (errors are not equal)."""
    if isinstance(result, NodeError):
        return ("NodeError", result.node, type(result.cause).__name__, str(result.cause))
    if isinstance(result, InputError):
        return ("InputError", str(result))
    return result


def test_rag_jsonl_of_1000_gives_the_same_file_locally_and_on_dask(cluster, rag_env,
                                                                     tmp_path):
    questions = tmp_path / "questions.jsonl"
    topics = ["magma", "moraines", "tides", "bees dance", "the moon", "valleys"]
    with questions.open("w") as f:
        for i in range(1000):
            f.write(json.dumps({"question": f"What about {topics[i % 6]}? ({i})"}) + "\n")
        f.write("not json\n")
    scheduler = cluster.client.scheduler.address.removeprefix("tcp://")
    outputs = {}
    for name, extra in (("local", []), ("dask", ["--executor", f"dask://{scheduler}"])):
        out = tmp_path / f"{name}.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "llmkit", "run", REPO / "pipelines" / "rag.yaml",
             "--input-file", questions, "--output", out, "--ordered", "--no-cache", *extra],
            cwd=tmp_path, env={**os.environ, **rag_env, "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr  # the line that is not JSON
        outputs[name] = out.read_text().splitlines()
    assert len(outputs["dask"]) == 1001
    assert '"sources": [{' in outputs["dask"][0]
    assert outputs["dask"] == outputs["local"]


def test_cpu_heavy_custom_node_results_and_error_records_match_the_local_runner(cluster):
    p = digest_pipeline(rounds=300)
    inputs = [{"text": f"text {i}"} for i in range(1000)]
    inputs[7] = {"text": "boom"}
    inputs[500] = {"txt": "misspelt"}
    inputs[998] = 5
    local = p.run_many(inputs, on_error="return")
    executor = DaskExecutor(cluster.client, block_size=128)
    remote = p.run_many(inputs, executor=executor, on_error="return")
    assert [comparable(r) for r in remote] == [comparable(r) for r in local]
    assert comparable(remote[7])[0] == "NodeError" and "run 500" in str(remote[500])
    unordered = list(p.iter_many(inputs, executor=executor, ordered=False,
                                 on_error="return"))
    assert sorted(i for i, _ in unordered) == list(range(1000))
    assert {i: comparable(r) for i, r in unordered} == dict(enumerate(map(comparable, local)))


def test_on_error_raise_raises_the_failed_runs_error(cluster):
    p = digest_pipeline(rounds=1)
    executor = DaskExecutor(cluster.client, block_size=10)
    try:
        p.run_many([{"text": "a"}, {"text": "boom"}, {"text": "b"}], executor=executor)
    except NodeError as exc:
        assert exc.node == "digest" and "boom is not a text" in str(exc)
    else:
        raise AssertionError("a failed run must raise under on_error='raise'")


def test_a_worker_killed_mid_run_loses_no_item_and_repeats_none(cluster):
    p = digest_pipeline(rounds=3000)
    inputs = [{"text": f"t{i}"} for i in range(1000)]
    expected = p.run_many(inputs[:50])  # the blocks take ~0.1 s each
    victim = next(iter(cluster.workers().values()))
    executor = DaskExecutor(cluster.client, block_size=50, blocks_in_flight=4)
    seen = []
    for index, result in p.iter_many(inputs, executor=executor, ordered=False):
        if not seen:
            os.kill(victim, signal.SIGKILL)  # its block in flight is run again elsewhere
        seen.append(index)
        if index < 50:
            assert result == expected[index]
    assert sorted(seen) == list(range(1000))
    assert victim not in cluster.workers().values()  # the nanny started a new worker


def test_two_workers_sharing_redis_compute_each_of_the_same_new_items_once(cluster, redis_url,
                                                                         tmp_path):
    from llmkit.spec import load_pipeline

    log = tmp_path / "computed.log"
    p = load_pipeline(LOGGED.replace("LOG", str(log)))
    # Two blocks of the same 100 new items, one per worker, at the same time.
    executor = DaskExecutor(cluster.client, block_size=100, blocks_in_flight=2)
    results = p.run_many([{"x": x} for x in range(100)] * 2, executor=executor,
                         cache=redis_url)
    assert results == [{"y": 2 * x} for x in range(100)] * 2
    computed = [int(line.split()[0]) for line in log.read_text().splitlines()]
    assert sorted(computed) == list(range(100))  # each once, whichever worker won it
    log.unlink()
    assert p.run_many([{"x": x} for x in range(100)], executor=executor,
                      cache=redis_url) == [{"y": 2 * x} for x in range(100)]
    assert not log.exists()  # a re-run computes nothing


ROUTED = """\
llmkit: 1
inputs: {question: str}
nodes:
  check:
    type: route
    params: {routes: {long: "question | length > 12"}, default: short}
    inputs: {question: question}
  long: {type: prompt, params: {template: "long: {q}"}, inputs: {q: check.long}}
  short: {type: prompt, params: {template: "short: {q}"}, inputs: {q: check.short}}
  answer: {type: coalesce, inputs: {a: long.text, b: short.text}}
outputs: {text: answer.value}
"""


def test_a_routed_pipeline_gives_the_local_results_on_dask(cluster):
    from llmkit.spec import load_pipeline

    p = load_pipeline(ROUTED)
    inputs = [{"question": "why?" * (i % 5)} for i in range(200)]
    local = p.run_many(inputs)
    assert {r["text"].split(":")[0] for r in local} == {"long", "short"}
    remote = p.run_many(inputs, executor=DaskExecutor(cluster.client, block_size=32))
    assert remote == local
