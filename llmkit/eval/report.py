"""The results of an evaluation: a side-by-side table of the pipelines (Markdown, readable
in a terminal and pasteable into docs) and the JSON report with every question's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmkit.eval.runner import ANSWER, RETRIEVAL, PipelineResult

__all__ = ["JUDGE_NOTE", "columns", "report", "summary", "table"]

ALWAYS = ("p50_ms", "p95_ms", "calls", "errors")
COUNTERS = ("cache_hits", "tokens")  # shown when some pipeline has any
JUDGE_NOTE = "judge*: answers an LLM judged correct (its opinion, not a string match), by {}"


def columns(k: int) -> dict[str, str]:
    """Each summary field's column title."""
    return {"hit": f"hit@{k}", "recall": f"recall@{k}", "mrr": "MRR", "ndcg": f"nDCG@{k}",
            "exact": "exact", "contains": "contains", "f1": "F1", "judge": "judge*",
            "p50_ms": "p50 ms", "p95_ms": "p95 ms", "calls": "calls",
            "cache_hits": "cache hits", "tokens": "tokens", "errors": "errors"}


def summary(result: PipelineResult) -> dict[str, Any]:
    """A pipeline's figures: metric means (None when no question has the gold labels),
    latency percentiles, model calls, cache hits, tokens and failed runs."""
    stats = result.profile.nodes.values()
    return {
        **{metric: result.mean(metric) for metric in (*RETRIEVAL, *ANSWER, "judge")},
        "p50_ms": result.latency(0.5) * 1e3, "p95_ms": result.latency(0.95) * 1e3,
        "calls": sum(s.calls for s in stats), "cache_hits": sum(s.cache_hits for s in stats),
        "tokens": result.profile.tokens, "errors": result.errors,
    }


def table(results: Sequence[PipelineResult], judge: str | None = None) -> str:
    """One row per pipeline; a column only when some pipeline has a figure for it."""
    rows = [summary(r) for r in results]
    titles = columns(results[0].k)
    shown = [key for key in titles if key in ALWAYS or any(
        row[key] is not None and (key not in COUNTERS or row[key]) for row in rows)]
    cells = [["pipeline", *(titles[key] for key in shown)]]
    cells += [[r.name, *(_cell(row[key]) for key in shown)] for r, row in zip(
        results, rows, strict=True)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + (":" if i else "-")
                                   for i, w in enumerate(widths)) + "|")
    if "judge" in shown and judge is not None:
        lines.append("\n" + JUDGE_NOTE.format(judge))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)


def report(results: Sequence[PipelineResult], *, dataset: str, window: int,
           judge: str | None = None) -> dict[str, Any]:
    """The JSON report: the settings, each pipeline's summary and every question's outcome."""
    return {
        "dataset": dataset, "questions": len(results[0].outcomes) if results else 0,
        "k": results[0].k if results else None, "window": window, "judge": judge,
        "pipelines": [{
            "name": r.name, "path": r.path, "seconds": r.seconds, "summary": summary(r),
            "questions": [{
                "id": o.example.id, "question": o.example.question,
                "latency_ms": o.seconds * 1e3, "retrieved": o.retrieved, "answer": o.answer,
                "scores": o.scores, "error": o.error,
                **({"verdict": o.verdict} if o.verdict is not None else {}),
            } for o in r.outcomes],
        } for r in results],
    }
