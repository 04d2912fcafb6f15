"""A chunk that starts in a Markdown table's body rows carries the table's header, and the
context shows it above the chunk, so every row keeps its columns."""

from __future__ import annotations

from llmkit.nodes.generation.context import build_context
from llmkit.nodes.retrieval.documents import split

HEADER = "| option | default |\n|---|:---:|"
ROWS = "".join(f"| `--flag-{i}` | value {i} |\n" for i in range(40))
AFTER = "Prose after the table goes on for a while. " * 12
TEXT = f"# Options\n\nSome prose first.\n\n{HEADER}\n{ROWS}\n{AFTER}\n"


def test_chunks_starting_in_the_rows_carry_the_header_and_no_other_does():
    chunks = split({"id": "d.md", "text": TEXT, "format": "md"}, size=200, overlap=30)
    body_start = TEXT.index(HEADER) + len(HEADER) + 1
    body_end = TEXT.index("\nProse after")
    assert any(c["start"] > body_end for c in chunks)
    assert len(chunks) > 3
    for c in chunks:
        inside = body_start <= c["start"] < body_end
        assert c.get("table_header") == (HEADER if inside else None), c
        assert TEXT[c["start"]:c["end"]] == c["text"]  # the text is still the document's
    assert sum("table_header" in c for c in chunks) >= 2


def test_tables_in_code_blocks_and_plain_text_have_no_header():
    fenced = f"# Code\n\n```\n{HEADER}\n{ROWS}```\n"
    for doc in ({"id": "a.md", "text": fenced, "format": "md"},
                {"id": "b.txt", "text": TEXT, "format": "txt"}):
        assert not any("table_header" in c for c in split(doc, size=200, overlap=30))


def test_the_context_shows_a_row_chunk_under_its_header():
    hit = {"id": "x", "text": "| `--flag-7` | value 7 |", "source": "d.md", "score": 1.0,
           "metadata": {"table_header": HEADER}}
    text = build_context([hit])["text"]
    assert text == f"[1] {HEADER}\n| `--flag-7` | value 7 |"
