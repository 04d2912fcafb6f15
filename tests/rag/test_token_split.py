"""Chunks sized in tokens: no chunk holds more than `size` tokens, consecutive chunks share at
most `overlap` tokens, nothing is lost, and the counter counts as BERT's WordPiece does."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.nodes.retrieval.documents import read_chunks, split
from llmkit.nodes.retrieval.nodes import Split
from llmkit.nodes.retrieval.tokens import WordPieceCounter
from tests.extras import require

COUNTER = WordPieceCounter()
ROOT = Path(__file__).parents[2]

words = st.sampled_from(["the", "llamas", "unbelievably", "tokenization", "a", "x", "42,000",
                         "naïve", "co-operate", "U.S.A.", "中文", "supercalifragilistic" * 3,
                         "end.", "Why?", "# Heading", "-", "(see", "this)"])
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "  "])
texts = st.lists(st.tuples(words, separators), max_size=120).map(
    lambda pairs: "".join(w + s for w, s in pairs))


def _check(text: str, chunks: list[dict], size: int, overlap: int) -> None:
    for chunk in chunks:
        assert COUNTER.count_tokens(chunk["text"]) <= size
        assert text[chunk["start"]:chunk["end"]] == chunk["text"]
    for before, after in itertools.pairwise(chunks):
        assert before["start"] < after["start"]
        if after["start"] < before["end"]:
            assert COUNTER.count_tokens(text[after["start"]:before["end"]]) <= overlap
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk["start"], chunk["end"]))
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


@settings(max_examples=150, deadline=None)
@given(text=texts, size=st.integers(1, 40), data=st.data())
def test_token_chunks_stay_within_size_and_overlap(text, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    chunks = split({"text": text, "source": "t.md"}, size, overlap, tokens=COUNTER)
    _check(text, chunks, size, overlap)


def test_token_chunks_fill_the_window_and_prefer_sentence_ends():
    text = " ".join(f"Sentence number {i} says something about llamas." for i in range(40))
    chunks = split({"text": text, "source": "t.txt", "format": "txt"}, 64, 8, tokens=COUNTER)
    assert all(c["text"].endswith(".") for c in chunks)
    assert min(COUNTER.count_tokens(c["text"]) for c in chunks[:-1]) >= 32  # half the window
    _check(text, chunks, 64, 8)


def test_streamed_token_chunks_equal_the_whole_ones(tmp_path):
    text = (ROOT / "docs" / "retrieval.md").read_text(encoding="utf-8")
    (tmp_path / "r.md").write_text(text, encoding="utf-8")
    whole = split({"text": text, "source": "r.md", "format": "md"}, 128, 16, tokens=COUNTER)
    streamed = list(read_chunks(tmp_path / "r.md", "r.md", 128, 16, block=2048, tokens=COUNTER))
    assert streamed == whole
    _check(text, whole, 128, 16)


def test_the_split_node_counts_tokens_when_asked():
    doc = {"text": "word " * 300, "source": "w.txt", "format": "txt"}
    assert len(Split(size=100, overlap=0).run([doc])["chunks"]) == 15  # 1,500 characters
    chunks = Split(size=100, overlap=0, unit="tokens").run([doc])["chunks"]
    assert [COUNTER.count_tokens(c["text"]) for c in chunks] == [100, 100, 100]
    with pytest.raises(ValueError, match="unit must be 'chars' or 'tokens'"):
        Split(unit="words")
    with pytest.raises(ValueError, match="a tokenizer is for unit: tokens"):
        Split(tokenizer=COUNTER)


def test_the_counter_counts_as_the_tokenizers_package_does():
    tokenizers = require("tokenizers", "embeddings")
    vocab = ROOT / "nodes" / "retrieval" / "data" / "minilm_vocab.txt"
    reference = tokenizers.BertWordPieceTokenizer(str(vocab), lowercase=True)
    samples = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))]
    samples += ["Naïve café, İstanbul — ½ ² ﬁ, 中文字, 한국어!", "a\u0301\u200b\x00b\ufffd",
                "x" * 150 + " ok", "antidisestablishmentarianism's (co-op) 3.14159"]
    for text in samples:
        assert COUNTER.count_tokens(text) == len(
            reference.encode(text, add_special_tokens=False).ids)
