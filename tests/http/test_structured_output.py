"""Structured output: `generate` with `schema:` sends it in each vendor's dialect, checks
the reply, retries a bad one once, then fails the run without caching anything."""

from __future__ import annotations

import json

import pytest

from llmkit.cache import MemoryCache
from llmkit.core.pipeline import Pipeline
from llmkit.errors import LlmkitError
from llmkit.nodes.backends.ollama import OllamaChat
from llmkit.nodes.backends.openai import OpenAIChat
from llmkit.nodes.generation.nodes import Generate
from llmkit.nodes.generation.structured import Schema, SchemaMismatch
from tests.extras import require
from tests.servers.fake_llm import fake_json

SCHEMA = {"title": "review", "type": "object", "required": ["sentiment", "score"],
          "properties": {"sentiment": {"type": "string", "enum": ["pos", "neg"]},
                         "score": {"type": "integer"},
                         "tags": {"type": "array", "items": {"type": "string"}}}}
VENDORS = {"openai": (OpenAIChat, "/v1", "/v1/chat/completions"),
           "ollama": (OllamaChat, "", "/api/chat")}


def pipeline(server, vendor: str, schema=SCHEMA) -> Pipeline:
    cls, suffix, _ = VENDORS[vendor]
    llm = cls("fake-model", base_url=server.url + suffix)
    return (Pipeline(inputs=["q"])
            .add("g", Generate(llm, system_prompt=None, template="{question}", schema=schema),
                 question="q"))


@pytest.mark.parametrize("vendor", VENDORS)
def test_schema_is_sent_checked_and_split_into_ports(fake_server, vendor):
    p = pipeline(fake_server, vendor)
    assert set(p.nodes["g"].outputs) == {"answer", "data", "sentiment", "score", "tags"}
    result = p.run(q="great film")
    body = fake_server.control.stats()["last"][VENDORS[vendor][2]]
    if vendor == "openai":
        assert body["response_format"] == {"type": "json_schema", "json_schema": {
            "name": "review", "schema": SCHEMA}}
    else:
        assert body["format"] == SCHEMA
    expected = fake_json(SCHEMA, "great film")
    assert result["data"] == expected and json.loads(result["answer"]) == expected
    assert (result["sentiment"], result["score"], result["tags"]) == (
        expected["sentiment"], expected["score"], expected["tags"])


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_reply_off_schema_is_retried_once(fake_server, vendor):
    fake_server.control.faults(schedule=["unschema", "ok"])
    assert pipeline(fake_server, vendor).run(q="x")["data"] == fake_json(SCHEMA, "x")
    assert sum(fake_server.control.stats()["requests"].values()) == 2


@pytest.mark.parametrize("vendor", VENDORS)
def test_twice_off_schema_is_the_runs_error_and_nothing_is_cached(fake_server, vendor):
    fake_server.control.faults(schedule=["unschema", "unschema", "ok"])
    cache = MemoryCache()
    p = pipeline(fake_server, vendor)
    with pytest.raises(LlmkitError, match="does not follow the schema, twice: the reply must "
                                          "be object"):
        p.run(q="x", cache=cache)
    assert sum(fake_server.control.stats()["requests"].values()) == 2
    assert p.run(q="x", cache=cache)["score"] == len("score:x")  # asked again, not cached
    assert sum(fake_server.control.stats()["requests"].values()) == 3
    p.run(q="x", cache=cache)  # now the complete result is cached
    assert sum(fake_server.control.stats()["requests"].values()) == 3


def test_a_pydantic_model_is_a_schema(fake_server):
    pydantic = require("pydantic")

    class Review(pydantic.BaseModel):
        sentiment: str
        score: int

    p = pipeline(fake_server, "openai", schema=Review)
    result = p.run(q="ok")
    body = fake_server.control.stats()["last"]["/v1/chat/completions"]
    assert body["response_format"]["json_schema"]["schema"] == Review.model_json_schema()
    assert result["data"] == {"sentiment": fake_json({}, "sentiment:ok"),
                              "score": len("score:ok")}
    assert p.nodes["g"].describe()["params"]["schema"] == Review.model_json_schema()


def test_the_extractive_generator_refuses_a_schema():
    with pytest.raises(ValueError, match="answers in plain text and cannot follow a schema"):
        Generate(schema=SCHEMA)


@pytest.mark.parametrize(("value", "message"), [
    ({"sentiment": "meh", "score": 1}, r"the reply.sentiment must be one of \['pos', 'neg'\]"),
    ({"sentiment": "pos"}, "missing required property 'score'"),
    ({"sentiment": "pos", "score": True}, "the reply.score must be integer"),
    ({"sentiment": "pos", "score": 1, "tags": ["a", 2]}, r"the reply.tags\[1\] must be string"),
    ("[1]", "the reply must be object"),
])
def test_the_validator_names_what_is_wrong(value, message):
    text = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(SchemaMismatch, match=message):
        Schema(SCHEMA).parse(text)


def test_unsupported_keywords_and_non_objects_are_refused_when_built():
    with pytest.raises(ValueError, match="keyword 'pattern' is not supported"):
        Schema({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}})
    with pytest.raises(ValueError, match="top level must be"):
        Schema({"type": "string"})


def test_refs_and_closed_objects():
    schema = Schema({"type": "object", "additionalProperties": False,
                     "properties": {"p": {"$ref": "#/$defs/P"}},
                     "$defs": {"P": {"type": "object", "required": ["n"],
                                     "properties": {"n": {"type": "number", "minimum": 0}}}}})
    assert schema.parse('{"p": {"n": 1.5}}') == {"p": {"n": 1.5}}
    with pytest.raises(SchemaMismatch, match="minimum is 0, got -1"):
        schema.parse('{"p": {"n": -1}}')
    with pytest.raises(SchemaMismatch, match="unexpected property 'q'"):
        schema.parse('{"p": {"n": 1}, "q": 1}')
