"""A `@node` function's fingerprint covers what it reads: closure cells, default arguments,
constant globals, attribute names; what cannot be fingerprinted is not cached."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.cache import MemoryCache
from llmkit.cache.keys import hash_function
from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SCALE = 2
CALLS: list[int] = []  # a global object, not a constant: not part of fingerprints


def adder(n: int, api_key: str = "sk-one"):
    @node(outputs="y")
    def add(x):
        CALLS.append(x)
        assert api_key  # a secret the function reads: never part of its fingerprint
        return x + n

    return add


async def test_closures_over_different_values_do_not_share_cache_entries():
    store = MemoryCache()
    CALLS.clear()
    ten = Pipeline(inputs=["x"]).add("add", adder(10), x="x")
    fifteen = Pipeline(inputs=["x"]).add("add", adder(15), x="x")
    assert await ten.arun(x=0, cache=store) == {"y": 10}
    assert await fifteen.arun(x=0, cache=store) == {"y": 15}  # not the cached 10
    assert await fifteen.arun(x=0, cache=store) == {"y": 15}
    assert CALLS == [0, 0]  # the second run of the second closure is a hit


def test_secret_named_closure_variables_are_not_in_the_fingerprint():
    assert adder(1, api_key="sk-one").fingerprint == adder(1, api_key="sk-two").fingerprint


def with_default(n: int, keyword: bool):
    if keyword:
        @node(outputs="y")
        def scaled(x, *, k=n):
            return x * k
    else:
        @node(outputs="y")
        def scaled(x, k=n):
            return x * k
    return scaled


@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "keyword-only"])
async def test_unwired_default_arguments_are_part_of_the_fingerprint(keyword):
    store = MemoryCache()
    p2 = Pipeline(inputs=["x"]).add("s", with_default(2, keyword), x="x")
    p3 = Pipeline(inputs=["x"]).add("s", with_default(3, keyword), x="x")
    assert await p2.arun(x=5, cache=store) == {"y": 10}
    assert await p3.arun(x=5, cache=store) == {"y": 15}


@node(outputs="y")
def scale(x):
    return x * SCALE


def test_constant_globals_are_part_of_the_fingerprint(monkeypatch):
    before = scale.fingerprint
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 3)
    assert scale.fingerprint != before


def compiled(body: str):
    namespace: dict = {}
    exec(f"def f(x):\n    return {body}", namespace)
    return namespace["f"]


def test_attribute_and_helper_names_are_part_of_the_fingerprint():
    assert hash_function(compiled("x.upper()")) != hash_function(compiled("x.lower()"))
    assert hash_function(compiled("x.upper()")) == hash_function(compiled("x.upper()"))


def test_closures_over_functions_hash_what_those_functions_read():
    def make(n):
        def times(v):
            return v * n

        def outer(x):
            return times(x)

        return outer

    assert hash_function(make(2)) != hash_function(make(3))
    assert hash_function(make(2)) == hash_function(make(2))


def test_a_recursive_closure_can_be_fingerprinted():
    def make():
        def countdown(n):
            return countdown(n - 1) if n else 0

        return countdown

    assert hash_function(make()) == hash_function(make())


async def test_an_unfingerprintable_closure_value_is_not_cached_with_one_warning(caplog):
    client, calls = object(), []

    @node(outputs="y")
    def ask(x):
        calls.append(client)
        return x

    p = Pipeline(inputs=["x"]).add("ask", ask, x="x")
    store = MemoryCache()
    with caplog.at_level(logging.WARNING, logger="llmkit.cache"):
        for _ in range(3):
            assert await p.arun_many([{"x": 1}, {"x": 1}], cache=store) == [{"y": 1}] * 2
    assert len(calls) == 6  # computed every time, never from the cache
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "node 'ask' is not cached" in warnings[0]
    assert "closure variable 'client'" in warnings[0]


def shout(x):
    """Holds a comprehension and a set constant: nested code objects and hash-seeded order."""
    return [w.upper() for w in x if w not in {"a", "an", "the", "of"}]


def test_a_function_fingerprint_is_the_same_in_every_process():
    script = ("from tests.cache.test_function_fingerprint import shout; "
              "from llmkit.cache.keys import hash_function; print(hash_function(shout).hex())")
    digests = {
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2", "3")
    }
    assert digests == {hash_function(shout).hex() + "\n"}


def test_a_node_used_as_a_closure_value_counts_by_its_fingerprint():
    def make(n):
        inner = adder(n)

        @node(outputs="y")
        def outer(x):
            return inner(x)

        return outer

    assert make(1).fingerprint != make(2).fingerprint
    assert make(1).fingerprint == make(1).fingerprint


def test_closures_over_different_modules_differ():
    import json
    import pickle

    def make(codec):
        def dump(x):
            return codec.dumps(x)

        return dump

    assert hash_function(make(json)) != hash_function(make(pickle))
