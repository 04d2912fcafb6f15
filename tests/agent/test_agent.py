"""The `agent` node against the fake server's scripted tool calls: multi-step, parallel calls
run concurrently, a tool error reported to the model, the step limit, a step timeout,
retries, the streamed final answer, caching, and the three kinds of tools."""

from __future__ import annotations

import json

import anyio
import pytest

from llmkit.cache import MemoryCache
from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import NodeError, PipelineError
from llmkit.nodes.agent.nodes import Agent
from llmkit.nodes.agent.tools import function_tool, node_tool, pipeline_tool
from llmkit.nodes.backends.ollama import OllamaChat
from llmkit.nodes.backends.openai import OpenAIChat
from llmkit.nodes.generation.nodes import Prompt
from llmkit.spec.load import load_pipeline

CHAT = "/v1/chat/completions"


def agent_pipeline(server, tools, vendor="openai", **params) -> Pipeline:
    llm = (OpenAIChat("fake-model", base_url=server.url + "/v1") if vendor == "openai"
           else OllamaChat("fake-model", base_url=server.url))
    return (Pipeline(inputs=["q"]).add("agent", Agent(llm, tools, **params), question="q")
            .outputs(answer="agent.answer", steps="agent.steps"))


def call(name, **arguments):
    return {"name": name, "arguments": arguments}


UPPERED: list[str] = []  # a global: a closure's cells are part of a function's fingerprint


def upper(text: str) -> str:
    """Upper-case a text."""
    UPPERED.append(text)
    return text.upper()


def upper_tool():
    return function_tool(upper)


@pytest.mark.parametrize("vendor", ["openai", "ollama"])
@pytest.mark.parametrize("stream", [False, True])
def test_multi_step_loop_feeds_tool_results_back(fake_server, vendor, stream):
    fake_server.control.config(tool_script=[[call("upper", text="one")],
                                            [call("upper", text="two")]])
    p = agent_pipeline(fake_server, [upper_tool()], vendor)
    if stream:
        async def go():
            tokens, result = [], None
            async for event in p.astream({"q": "go"}):
                if event.kind == "token":
                    tokens.append(event.data)
                elif event.kind == "result":
                    result = event.data
            return tokens, result
        tokens, result = anyio.run(go)
        assert "".join(tokens) == result["answer"] and len(tokens) > 1
    else:
        result = p.run(q="go")
    assert result["answer"] == 'answer from: {"output": "ONE"} | {"output": "TWO"}'
    assert [(s["step"], s["tool"], s["arguments"]) for s in result["steps"]] == [
        (1, "upper", {"text": "one"}), (2, "upper", {"text": "two"})]
    path = CHAT if vendor == "openai" else "/api/chat"
    assert fake_server.control.stats()["requests"][path] == 3


def test_parallel_tool_calls_run_concurrently(fake_server):
    events: dict[str, anyio.Event] = {}

    async def ping(who: str) -> str:
        """Wait for the other tool."""
        events.setdefault(who, anyio.Event()).set()
        other = "b" if who == "a" else "a"
        with anyio.fail_after(5):  # sequential calls would wait here forever
            await events.setdefault(other, anyio.Event()).wait()
        return who

    fake_server.control.config(tool_script=[[call("ping", who="a"), call("ping", who="b")]])
    result = agent_pipeline(fake_server, [function_tool(ping)]).run(q="go")
    assert [s.get("result") for s in result["steps"]] == ['{"output": "a"}', '{"output": "b"}']


def test_a_tool_error_goes_to_the_model_and_its_answer_is_not_cached(fake_server):
    def broken(text: str) -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    fake_server.control.config(tool_script=[[call("broken", text="x"), call("nope")]])
    cache = MemoryCache()
    p = agent_pipeline(fake_server, [function_tool(broken)])
    result = p.run(q="go", cache=cache)
    errors = [s["error"] for s in result["steps"]]
    assert "disk on fire" in errors[0] and "no tool named 'nope'" in errors[1]
    assert "disk on fire" in result["answer"]  # the model read it
    assert "disk on fire" in json.dumps(fake_server.control.stats()["last"][CHAT]["messages"])
    fake_server.control.reset_stats()
    assert p.run(q="go", cache=cache) == result  # an answer made despite a failure:
    assert fake_server.control.stats()["requests"][CHAT] == 2  # not stored, asked again


def test_the_step_limit_fails_the_run_and_is_not_cached(fake_server):
    fake_server.control.config(tool_script=[[call("upper", text="x")]] * 5)
    cache = MemoryCache()
    p = agent_pipeline(fake_server, [upper_tool()], max_steps=3)
    with pytest.raises(NodeError, match="max_steps=3"):
        p.run(q="go", cache=cache)
    assert fake_server.control.stats()["requests"][CHAT] == 3
    fake_server.control.reset_stats()
    with pytest.raises(NodeError, match="max_steps=3"):
        p.run(q="go", cache=cache)
    assert fake_server.control.stats()["requests"][CHAT] == 3  # asked again: nothing cached


def test_a_slow_tool_times_out_and_is_retried(fake_server):
    attempts = []

    async def slow(text: str) -> str:
        """Slow the first time."""
        attempts.append(text)
        if len(attempts) == 1:
            await anyio.sleep(10)
        return "done"

    fake_server.control.config(tool_script=[[call("slow", text="x")]])
    result = agent_pipeline(fake_server, [function_tool(slow)], step_timeout=0.5,
                            retries=1).run(q="go")
    assert len(attempts) == 2 and result["steps"][0]["result"] == '{"output": "done"}'


def test_a_step_timeout_without_retries_is_a_tool_error(fake_server):
    async def slow(text: str) -> str:
        """Never answers in time."""
        await anyio.sleep(10)
        return "never"

    fake_server.control.config(tool_script=[[call("slow", text="x")]])
    result = agent_pipeline(fake_server, [function_tool(slow)], step_timeout=0.3,
                            retries=0).run(q="go")
    assert result["steps"][0]["error"] == "TimeoutError"


def test_a_failed_model_call_is_retried(fake_server):
    fake_server.control.config(tool_script=[])
    fake_server.control.faults(schedule=["500"])
    result = agent_pipeline(fake_server, [upper_tool()], retries=1).run(q="go")
    assert result["answer"] == "answer from:"
    assert fake_server.control.stats()["requests"][CHAT] == 2


def test_a_second_run_is_a_cache_hit_and_tools_cache_per_item(fake_server):
    UPPERED.clear()
    calls = UPPERED
    fake_server.control.config(tool_script=[[call("upper", text="a")]])
    cache = MemoryCache()
    p = agent_pipeline(fake_server, [upper_tool()])
    first = p.run(q="go", cache=cache)
    assert calls == ["a"] and fake_server.control.stats()["requests"][CHAT] == 2
    fake_server.control.reset_stats()
    assert p.run(q="go", cache=cache) == first
    assert fake_server.control.stats()["total"] == 0 and calls == ["a"]
    # another question asks the model again, but the tool's result comes from the cache
    assert p.run(q="other", cache=cache)["answer"] == first["answer"]
    assert calls == ["a"] and fake_server.control.stats()["requests"][CHAT] == 2


def test_pipeline_and_node_tools(fake_server):
    inner = (Pipeline("shout", inputs={"word": str}, description="Shout a word.")
             .add("p", Prompt("{word}!"), word="word").outputs(text="p.text"))
    fake_server.control.config(tool_script=[[call("shout", word="hi"),
                                             call("frame", x="y")]])
    tools = [pipeline_tool(inner), node_tool(Prompt("[{x}]"), "frame")]
    assert tools[0].spec()["function"]["parameters"] == {
        "type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"],
        "additionalProperties": False}
    result = agent_pipeline(fake_server, tools).run(q="go")
    assert result["answer"] == 'answer from: {"text": "hi!"} | {"text": "[y]"}'
    offered = fake_server.control.stats()["last"][CHAT]["tools"]
    assert [t["function"]["name"] for t in offered] == ["shout", "frame"]
    assert offered[0]["function"]["description"] == "Shout a word."


def test_concurrent_agents_batch_their_tool_calls(fake_server):
    sizes: list[int] = []

    @node(batch=True)
    def lengths(text: list[str]) -> list[int]:
        sizes.append(len(text))
        return [len(t) for t in text]

    fake_server.control.config(tool_script=[[call("lengths", text="abc")]])
    p = agent_pipeline(fake_server, [node_tool(lengths, "lengths")])
    results = p.run_many([{"q": f"q{i}"} for i in range(8)])
    assert all(r["steps"][0]["result"] == '{"output": 3}' for r in results)
    assert max(sizes) > 1  # the eight agents' calls shared a batch


def test_the_shipped_agent_yaml_searches_the_docs_and_the_web(fake_server, tmp_path):

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcanoes.md").write_text("# Volcanoes\n\nStratovolcanoes erupt explosively "
                                       "because their magma holds gas.\n")
    env = {"OPENAI_BASE_URL": fake_server.url + "/v1", "SEARX_URL": fake_server.url,
           "LLMKIT_DOCS": str(docs), "LLMKIT_INDEX": str(tmp_path / "index"),
           "LLMKIT_MODEL": "fake-model"}
    p = load_pipeline("pipelines/agent.yaml", env=env)  # the tool's own file reads env too
    fake_server.control.config(tool_script=[[call("search", query="stratovolcano gas"),
                                             call("web_search", query="volcano")]])
    result = p.run(question="Why do volcanoes explode?")
    assert [s["tool"] for s in result["steps"]] == ["search", "web_search"]
    assert "volcanoes.md" in result["steps"][0]["result"]
    assert "example.org" in result["steps"][1]["result"]
    assert "magma holds gas" in result["answer"]
    assert fake_server.control.stats()["requests"]["/search"] == 1


FUNCTION_TOOL_FILE = """\
llmkit: 1
inputs: {question: str}
resources:
  llm: {type: openai_chat, model: fake-model, base_url: "${BASE}"}
  upper: {type: function_tool, function: "tests.agent.test_agent:upper"}
nodes:
  agent: {type: agent, params: {llm: $llm, tools: [$upper]}, inputs: {question: question}}
outputs: {answer: agent.answer}
"""


def test_a_function_tool_in_a_file_needs_allow_import(fake_server):
    env = {"BASE": fake_server.url + "/v1"}
    with pytest.raises(PipelineError, match="allow-import"):
        load_pipeline(FUNCTION_TOOL_FILE, env=env)
    UPPERED.clear()
    fake_server.control.config(tool_script=[[call("upper", text="lava")]])
    p = load_pipeline(FUNCTION_TOOL_FILE, env=env, allow_import=True)
    assert "LAVA" in p.run(question="go")["answer"] and UPPERED == ["lava"]
