"""read_chunks splits a file block by block into exactly the chunks `split` makes of the
whole document that `load_files` reads."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmkit.nodes.retrieval.documents import load_files, read_chunks, split

# Pieces that exercise every kind of break and heading, and their neighbours: sentence ends
# and closers, paragraph and line breaks, Markdown and RST headings (and underline-looking
# lines that are not), Markdown table rows and rules, CRLF, Unicode spaces, CJK stops,
# astral characters, a BOM.
PIECES = ["word", "longerword", " ", "  ", "\t", ".", "!", "?", "\u2026", "\u3002", "\u201d",
          ")", "\n", "\n\n", "\n\n\n", "\r\n", "# Heading\n", "## Sub heading\n", "#nope\n",
          "Title\n=====\n", "=====\n", "---\n", "- item\n", "###\n", "~~~~ \n", "\u3000",
          "```\n", "```py\n", "| a | b |\n", "|---|---|\n", "| c |",
          "\u2028", "\u00a0", "caf\u00e9", "\u4e2d\u6587", "\U0001f600", "\ufeff", "x" * 40]


def streamed_and_whole(data: bytes, name: str, size: int, overlap: int,
                       block: int) -> tuple[list, list]:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / name
        file.write_bytes(data)
        loaded = load_files(file)
        assert not loaded.problems
        whole = split(loaded.documents[0], size, overlap)
        return list(read_chunks(file, loaded.documents[0]["source"], size, overlap,
                                block=block)), whole


@settings(max_examples=400, deadline=None)
@example(pieces=["word", "---\n", "---\n", "word", "\r\n", "=====\n"], name="doc.md", size=6,
         overlap_ratio=0.0, block=1)  # a heading starting right at a block's cut
@given(pieces=st.lists(st.sampled_from(PIECES), max_size=120),
       name=st.sampled_from(["doc.md", "doc.rst", "doc.txt"]),
       size=st.integers(4, 60), overlap_ratio=st.floats(0, 0.95),
       block=st.integers(1, 48))
def test_streamed_chunks_equal_the_in_memory_split(pieces, name, size, overlap_ratio, block):
    overlap = min(int(size * overlap_ratio), size - 1)
    streamed, whole = streamed_and_whole("".join(pieces).encode(), name, size, overlap, block)
    assert streamed == whole


@pytest.mark.parametrize(("encoding", "block"), [("utf-8", 1 << 20), ("utf-8-sig", 4096),
                                                 ("utf-16", 3)])
def test_a_large_generated_file_streams_into_the_same_chunks(encoding, block):
    rng = random.Random(encoding)
    words = ["alpha", "beta", "gamma", "delta", "\u00e9t\u00e9", "\u4e2d\u6587"]
    parts: list[str] = []
    length = 0
    while length < (3_000_000 if block > 3 else 200_000):
        length += len(parts[-1]) if parts else 0
        kind = rng.random()
        if kind < 0.05:
            parts.append(f"\n# Part {len(parts)}\n\n")
        elif kind < 0.08:
            parts.append(f"\nTitle {len(parts)}\n{'=' * 12}\n\n")
        else:
            sentence = " ".join(rng.choices(words, k=rng.randint(3, 30)))
            parts.append(sentence.capitalize() + rng.choice([". ", "! ", ".\n", ".\n\n"]))
    data = "".join(parts).encode(encoding)
    streamed, whole = streamed_and_whole(data, "big.md", 800, 120, block)
    assert len(whole) > 100
    assert streamed == whole


def test_read_chunks_reports_binary_and_undecodable_files(tmp_path):
    (tmp_path / "binary.txt").write_bytes(b"abc\x00def")
    (tmp_path / "latin1.md").write_bytes(b"ok " * 1000 + "caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="binary"):
        list(read_chunks(tmp_path / "binary.txt", "binary.txt"))
    with pytest.raises(UnicodeDecodeError):
        list(read_chunks(tmp_path / "latin1.md", "latin1.md", block=64))
