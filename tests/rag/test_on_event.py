"""RAGChain passes `on_event=` to its pipeline: a caller sees the nodes of its questions."""

from __future__ import annotations

from llmkit.rag import RAGChain


def test_query_and_batch_query_report_events(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "tides.md").write_text("Tides rise twice a day, pulled by the moon.")
    chain = RAGChain.from_documents(tmp_path / "docs", index=tmp_path / "index")
    events = []
    chain.query("Why do tides rise?", on_event=events.append)
    assert "search" in {e.node for e in events if e.kind == "node_finished"}
    events.clear()
    chain.batch_query(["Why?", "When?"], on_event=events.append)
    assert sorted(e.runs[0] for e in events if e.kind == "run_finished") == [0, 1]
