"""`validate`, `graph`, `nodes`, `cache stats|clear`, and a `--help` that stays light."""

import subprocess
import sys

from llmkit.cache import open_cache
from llmkit.spec import load_pipeline
from tests.cli.conftest import PIPELINES, REPO, environment


def test_validate_summarises(llmkit):
    result = llmkit("validate", PIPELINES / "greet.yaml")
    assert (result.code, result.out) == (0, "ok: 2 nodes, inputs name, outputs greeting\n")


def test_graph_as_mermaid(llmkit):
    result = llmkit("graph", PIPELINES / "greet.yaml")
    assert result.code == 0
    assert result.out.splitlines() == [
        "flowchart LR",
        '    input_name(["name"])',
        '    node_hello["hello<br/>(prompt)"]',
        '    node_shout["shout<br/>(prompt)"]',
        '    output_greeting(["greeting"])',
        '    input_name -->|"name"| node_hello',
        '    node_hello -->|"text"| node_shout',
        '    node_shout -->|"text"| output_greeting',
    ]


def test_graph_as_dot(llmkit):
    result = llmkit("graph", PIPELINES / "full.yaml", "--format", "dot", "--allow-import")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == 'digraph "full" {'
    assert lines[-1] == "}"
    assert '    "node:lookup" [label="lookup\\n(tests.fixtures.nodes:Lookup)"];' in lines
    assert '    "node:lookup" -> "node:answer" [label="value → country"];' in lines
    assert '    "input:key" [label="key", shape=oval];' in lines


def test_nodes_lists_types_with_ports_and_params(llmkit):
    result = llmkit("nodes")
    assert result.code == 0
    heading = "prompt  (llmkit.nodes.generation.nodes:Prompt)\n"
    block = result.out.split(heading, 1)[1].split("\n\n")[0]
    assert "  inputs:  (one port per placeholder name in the template)" in block
    assert "  outputs: text" in block
    assert "  params:  template (required)" in block
    route = result.out.split("route  (llmkit.nodes.control.nodes:Route)\n", 1)[1]
    assert "  outputs: one per branch" in route.split("\n\n")[0]


def test_cache_stats_and_clear(llmkit, tmp_path):
    db = tmp_path / "cache.db"
    p = load_pipeline(PIPELINES / "slow.yaml", allow_import=True, env={"SLOW_DELAY": "0"})
    with open_cache(str(db)) as store:
        p.run_many([{"x": i} for i in range(4)], cache=store)
    stats = llmkit("cache", "stats", "--cache", db)
    assert stats.code == 0
    assert [line.split()[:2] for line in stats.out.splitlines()] == [
        ["node", "entries"], ["slow", "4"], ["total", "4"]]
    typo = llmkit("cache", "clear", "--node", "slo", "--cache", db)
    assert (typo.code, typo.out) == (0, "cleared 0 entries of node 'slo'\n")
    assert "did you mean 'slow'?" in typo.err
    cleared = llmkit("cache", "clear", "--node", "slow", "--cache", db)
    assert cleared.out == "cleared 4 entries of node 'slow'\n"
    assert llmkit("cache", "stats", "--cache", db).out.splitlines()[-1].split() == [
        "total", "0", "0"]


def test_cache_commands_do_not_create_the_default_cache(llmkit, tmp_path):
    assert llmkit("cache", "stats").out == "no cache at .llmkit/cache.db\n"
    assert llmkit("cache", "clear").out == "no cache at .llmkit/cache.db: nothing to clear\n"
    assert not (tmp_path / ".llmkit").exists()


def test_bad_cache_url_is_a_usage_error(llmkit):
    result = llmkit("cache", "stats", "--cache", "mem://")
    assert result.code == 2
    assert result.err.startswith("llmkit: error: unknown cache scheme 'mem'")


def _imports(*args: object, **env: str) -> tuple[str, set[str]]:
    """The stdout of `python -m llmkit.cli ARGS` run in the repository, and every module
    it imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmkit.cli",
                           *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          env=environment(**env), timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                         if line.startswith("import time:")}


def _packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_imports_neither_numpy_nor_the_engine():
    out, imported = _imports("--help")
    assert "usage: llmkit" in out
    assert not _packages(imported) & {"numpy", "anyio", "networkx", "yaml", "httpx",
                                      "aiohttp"}


def test_validate_and_a_cached_run_of_an_offline_pipeline_import_no_http_nor_networkx(
        tmp_path):
    env = {"LLMKIT_INDEX": str(tmp_path / "index")}
    run = ("run", "pipelines/rag.yaml", "-i", "question=What is cached?", "--cache",
           tmp_path / "cache.db")
    first, _ = _imports(*run, **env)  # builds the index and fills the cache
    out, imported = _imports(*run, **env)
    assert out == first
    _, validated = _imports("validate", "pipelines/rag.yaml", **env)
    for modules in (imported, validated):
        assert not _packages(modules) & {"networkx", "httpx", "aiohttp"}
        assert not {m for m in modules if m.startswith("llmkit.http")}


def test_python_dash_m_llmkit_is_the_cli(llmkit):
    result = llmkit("--help")
    assert result.code == 0
    assert result.out.startswith("usage: llmkit [-h] COMMAND")
