"""Mutated pipeline files either load or raise one of llmkit's own errors, never another
exception: keys dropped or renamed, types swapped, ports renamed, values replaced by garbage
of random types, and random bytes injected into the text."""

import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.errors import LlmkitError
from llmkit.spec import catalog, load_pipeline

REPO = Path(__file__).parents[2]
FILES = sorted([*(REPO / "tests" / "fixtures" / "pipelines").glob("*.yaml"),
                *(REPO / "pipelines").glob("*.yaml")])
TEXTS = [path.read_bytes() for path in FILES]
DATA = [yaml.safe_load(text) for text in TEXTS]
ENV = {"TABLE_API_KEY": "tk-0123456789", "SLOW_DELAY": "0.01"}
TYPES = sorted({node.get("type") for data in DATA for node in data.get("nodes", {}).values()
                if isinstance(node, dict) and isinstance(node.get("type"), str)}
               | set(catalog.available()))

# Text without ':' so that garbage never names an importable `module:attr`.
names = st.text(st.characters(blacklist_characters=":"), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), names,
                    st.sampled_from(["$table", "$nothing", "${X}", "${TABLE_API_KEY}", "$$",
                                     "q", "hello.text", "a.b.c", "", "-1", "0"]))
garbage = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=6)


def paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path in a YAML data tree (keys and list indexes)."""
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*path, i))
    return found


def parent_and_key(data: Any, path: tuple) -> tuple[Any, Any]:
    for part in path[:-1]:
        data = data[part]
    return data, path[-1]


def loads_or_raises_our_error(text: str | bytes) -> None:
    with contextlib.suppress(LlmkitError):
        load_pipeline(text, allow_import=True, env=ENV)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a mutated resource writes, it writes here


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_data_loads_or_raises_llmkit_errors(data):
    doc = yaml.safe_load(TEXTS[data.draw(st.integers(0, len(TEXTS) - 1))])
    for _ in range(data.draw(st.integers(1, 3))):
        candidates = [p for p in paths(doc)[1:] if p[0] != "llmkit"]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        parent, key = parent_and_key(doc, path)
        action = data.draw(st.sampled_from(["drop", "garbage", "rename", "type", "source"]))
        if action == "drop":
            del parent[key]
        elif action == "garbage":
            parent[key] = data.draw(garbage)
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(st.one_of(names, scalars))] = parent.pop(key)
        elif action == "type" and isinstance(parent, dict):
            parent[key] = {"type": data.draw(st.sampled_from(TYPES))} if path[0] == "nodes" \
                and len(path) == 2 else parent[key]
            if isinstance(parent[key], dict) and "type" in parent[key]:
                parent[key]["type"] = data.draw(st.sampled_from(TYPES))
        elif action == "source":
            parent[key] = data.draw(st.sampled_from(["q", "x", "a.text", "hello.text",
                                                     "lookup.value", "nope.port", "."]))
    loads_or_raises_our_error(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_text_with_injected_bytes_loads_or_raises_llmkit_errors(data):
    text = TEXTS[data.draw(st.integers(0, len(TEXTS) - 1))]
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(st.binary(min_size=1, max_size=8)) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 20)):]
    loads_or_raises_our_error(text)
