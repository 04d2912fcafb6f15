"""Where a project sits is no part of a cache key: the same pipeline and documents in two
folders give the same fingerprints, so a moved or copied checkout keeps its cache."""

import shutil

from llmkit.core import registry
from llmkit.core.node import Node
from llmkit.spec import catalog
from llmkit.spec.load import load_pipeline
from llmkit.spec.resources import path_params

PIPELINE = """\
llmkit: 1
inputs: {question: str}
resources:
  embedder: {type: hashing, dim: 64}
  index: {type: corpus, path: ../.llmkit/index, source: ../docs, embedder: $embedder}
  llm: {type: extractive}
nodes:
  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: question}}
  search: {type: search, params: {index: $index, k: 2}, inputs: {vector: embed.vector}}
  keywords: {type: keyword_search, params: {index: $index, k: 2}, inputs: {query: question}}
  context: {type: build_context, inputs: {hits: search.hits}}
  generate: {type: generate, params: {llm: $llm}, inputs: {question: question,
                                                           context: context.text}}
"""


def _fingerprints(pipeline_file):
    p = load_pipeline(pipeline_file, env={})
    p.run(question="lava")  # prepares the corpus: its fingerprint is its indexed content
    return {name: node.fingerprint for name, node in p.nodes.items()}


def test_the_same_project_in_two_folders_has_the_same_fingerprints(tmp_path, monkeypatch):
    first = tmp_path / "first"
    (first / "docs").mkdir(parents=True)
    (first / "docs" / "volcano.md").write_text("# Volcanoes\n\nThey erupt lava and ash.\n")
    (first / "docs" / "ice.md").write_text("# Glaciers\n\nIce moves slowly.\n")
    (first / "pipelines").mkdir()
    (first / "pipelines" / "p.yaml").write_text(PIPELINE)
    fresh = tmp_path / "nested" / "fresh"
    shutil.copytree(first, fresh)  # a second checkout, indexed on its own
    monkeypatch.chdir(tmp_path)
    built = _fingerprints(first / "pipelines" / "p.yaml")
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)  # the first checkout moved, its index with it
    assert _fingerprints(fresh / "pipelines" / "p.yaml") == built
    assert _fingerprints(moved / "pipelines" / "p.yaml") == built
    (moved / "docs" / "ice.md").write_text("# Glaciers\n\nIce moves fast.\n")
    assert _fingerprints(moved / "pipelines" / "p.yaml")["search"] != built["search"]


def test_no_shipped_node_type_takes_a_path():
    """A node's params are in its fingerprint as given, and a path from a pipeline file is
    absolute: a type that reads a file takes it through a resource whose fingerprint is the
    file's content (docs/cache.md, "Where the project sits")."""
    with_paths = {name: sorted(path_params(cls)) for name, cls in catalog.available().items()
                  if path_params(cls)}
    assert not with_paths


class Lookup(Node):
    """A plugin-style type reading a file its pipeline names (`path_params`)."""

    inputs = {"word": str}
    outputs = {"meaning": str}
    path_params = ("table",)

    def __init__(self, table: str) -> None:
        self.table = table

    def run(self, word: str) -> dict:
        return {"meaning": word}


def test_a_node_path_param_is_keyed_by_the_file_content_not_its_place(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._BY_NAME, "test_lookup", Lookup)  # registered for this test
    monkeypatch.setitem(registry._BY_CLASS, Lookup, "test_lookup")
    text = "llmkit: 1\ninputs: {word: str}\nnodes:\n  look: {type: test_lookup, " \
           "params: {table: table.csv}, inputs: {word: word}}\n"
    fingerprints = []
    for folder in ("a", "b/c"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "table.csv").write_text("lava,molten rock\n")
        (tmp_path / folder / "p.yaml").write_text(text)
        p = load_pipeline(tmp_path / folder / "p.yaml")
        assert p.nodes["look"].table == str(tmp_path / folder / "table.csv")
        fingerprints.append(p.nodes["look"].fingerprint)
    assert fingerprints[0] == fingerprints[1]
    (tmp_path / "a" / "table.csv").write_text("lava,hot rock\n")
    assert load_pipeline(tmp_path / "a" / "p.yaml").nodes["look"].fingerprint \
        != fingerprints[0]
