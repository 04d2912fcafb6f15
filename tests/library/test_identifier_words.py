"""Keyword matching reads identifiers by their parts too: "BM25" finds `BM25Index(k1=1.5)`,
"chars" finds `max_chars`, in BM25 search, the extractive answerer and a saved corpus."""

from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.retrieval import bm25, corpus
from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.corpus import Corpus
from llmkit.nodes.retrieval.embedders import lexical_words, tokenize


def test_identifiers_give_their_parts_after_the_whole_words():
    assert lexical_words("BM25Index(k1=1.5) and max_chars") == [
        "bm25index", "k1", "1", "5", "and", "max_chars", "bm", "25", "index", "k", "1",
        "max", "chars"]
    assert lexical_words("HTTPServer getURLPath") == [
        "httpserver", "geturlpath", "http", "server", "get", "url", "path"]
    assert lexical_words("Plain words, Capitalised ones.") == tokenize(
        "Plain words, Capitalised ones.")


def test_bm25_finds_a_word_inside_an_identifier():
    index = BM25Index()
    index.add(["ctor", "other"], ["Build it with `BM25Index(k1=1.5, b=0.75)`.",
                                  "The context holds at most max_chars characters."])
    assert [h["id"] for h in index.search(["BM25 defaults"], 2)[0]] == ["ctor"]
    assert [h["id"] for h in index.search(["chars"], 2)[0]] == ["other"]
    assert index.llmkit_fingerprint()["terms"] == bm25.TERMS_VERSION


def test_the_answerer_matches_a_question_word_inside_an_identifier():
    context = ("[1] Its knobs are set in the constructor, `BM25Index(k1=1.5, b=0.75)`.\n\n"
               "[2] The parameters of a pipeline are given under params in the file.")
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "What are the BM25 parameters?", context)
    assert answer.endswith("[1]")


def test_a_how_to_question_prefers_the_option_named_after_its_word():
    context = ("[1] Outputs that cannot be written as JSON make that run an error record. "
               "`--json` prints the outputs as one JSON object instead. Each run has a "
               "result. A run is one set of inputs.")
    answer = ExtractiveGenerator(max_sentences=1).generate(
        "How can I get the outputs of a run as JSON?", context)
    assert answer == "`--json` prints the outputs as one JSON object instead. [1]"
    plain = ExtractiveGenerator(max_sentences=1, procedure_bonus=0.0)
    assert plain.generate("How can I get the outputs of a run as JSON?", context).startswith(
        "Outputs that")


def test_an_index_saved_with_whole_words_only_is_rebuilt(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bm25.md").write_text("Build it with `BM25Index(k1=1.5, b=0.75)`.\n")
    (docs / "other.md").write_text("The window bounds the runs in flight.\n")
    with monkeypatch.context() as old:  # what the previous release saved
        old.setattr(bm25, "lexical_words", tokenize)
        old.setattr(corpus, "TERMS_VERSION", 1)
        Corpus(tmp_path / "index", source=str(docs)).llmkit_prepare()
    reopened = Corpus(tmp_path / "index", source=str(docs))
    reopened.llmkit_prepare()
    assert [h["metadata"]["source"] for h in reopened.keyword_search(["BM25"], 1)[0]] == [
        "bm25.md"]


def test_a_saved_bm25_index_keeps_its_terms_version(tmp_path):
    index = BM25Index()
    index.add(["a"], ["BM25Index"])
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.llmkit_fingerprint() == index.llmkit_fingerprint()
    assert [h["id"] for h in loaded.search(["bm25"], 1)[0]] == ["a"]
