"""The extractive answerer: time per answer and share answered right, against a baseline.

    python -m bench.extractive [--k 4] [--baseline OLD_EXTRACTIVE.py] [--repeat 20]

Retrieves the context of each question of `pipelines/datasets/docs_qa.jsonl` from `docs/`
as `pipelines/rag.yaml` does (hashing embedder, top `--k`, `build_context` at 4,000
characters), then times `ExtractiveGenerator.generate` over all of them (best of
`--repeat`, alternating with the baseline; stems memoised; parsed chunks memoised, and
parsed afresh for each batch in the `cold` line), and counts the answers that contain a
gold fact, per split, with how many contexts hold one at all (the ceiling that retrieval
sets). `--baseline` loads another version of `extractive.py` (e.g.
`git show HEAD:nodes/generation/extractive.py > /tmp/old.py`) to measure side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmkit.nodes.generation.context import build_context
from llmkit.nodes.generation.extractive import ExtractiveGenerator
from llmkit.nodes.generation.passages import _chunk_candidates
from llmkit.nodes.retrieval.documents import load_files, split
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.vector_index import VectorIndex

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "pipelines" / "datasets" / "docs_qa.jsonl"


def contexts(questions: list[str], k: int) -> list[str]:
    """The numbered context of each question, retrieved from docs/ as rag.yaml does."""
    docs, _ = load_files(str(ROOT / "docs"))
    chunks = [c for d in docs for c in split(d, size=800, overlap=120)]
    embedder = HashingEmbedder(dim=384)
    index = VectorIndex(embedder.dim)
    index.add([c["id"] for c in chunks], embedder.embed([c["text"] for c in chunks]),
              [{"text": c["text"], "source": c["source"]} for c in chunks])
    hits = index.search(embedder.embed(questions), k=k)
    return [build_context(h, max_chars=4000)["text"] for h in hits]


def load_generator(path: str) -> object:
    """An `ExtractiveGenerator` from another version of the module, by file path."""
    spec = importlib.util.spec_from_file_location("baseline_extractive", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ExtractiveGenerator(max_sentences=3)


class ColdChunks:
    """The current generator with its memo of parsed chunks emptied before each batch: the
    cost when no chunk of the batch was seen before."""

    def __init__(self, gen: ExtractiveGenerator) -> None:
        self.gen = gen

    def generate_many(self, questions: list[str], ctxs: list[str]) -> list[str]:
        _chunk_candidates.cache_clear()
        return self.gen.generate_many(questions, ctxs)


def best_time(gen: object, questions: list[str], ctxs: list[str]) -> tuple[float, list[str]]:
    """Seconds one `generate_many` over all the questions takes, and its answers."""
    start = time.perf_counter()
    answers = gen.generate_many(questions, ctxs)
    return time.perf_counter() - start, answers


def report(name: str, seconds: float, answers: list[str], rows: list[dict],
           ctxs: list[str]) -> None:
    """Print µs per answer and the share answered right, per split."""
    right: dict[str, list[int]] = {}
    for row, answer, ctx in zip(rows, answers, ctxs, strict=True):
        tally = right.setdefault(row.get("split", "train"), [0, 0, 0])
        tally[0] += any(a.lower() in answer.lower() for a in row["answers"])
        tally[1] += any(a.lower() in ctx.lower() for a in row["answers"])
        tally[2] += 1
    splits = ", ".join(f"{split} {ok}/{n} right ({held} contexts hold a gold fact)"
                       for split, (ok, held, n) in right.items())
    print(f"{name:<10} {seconds / len(rows) * 1e6:8.0f} µs/answer   {splits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline", help="another extractive.py to measure side by side")
    args = parser.parse_args()
    rows = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
    ctxs = contexts([r["question"] for r in rows], args.k)
    questions = [r["question"] for r in rows]
    generators = {"cold": ColdChunks(ExtractiveGenerator(max_sentences=3)),
                  "current": ExtractiveGenerator(max_sentences=3)}
    if args.baseline:
        generators = {"baseline": load_generator(args.baseline), **generators}
    best = {name: (float("inf"), []) for name in generators}
    for _ in range(args.repeat):  # alternated, so both see the same machine load
        for name, gen in generators.items():
            best[name] = min(best[name], best_time(gen, questions, ctxs), key=lambda t: t[0])
    for name, (seconds, answers) in best.items():
        report(name, seconds, answers, rows, ctxs)

if __name__ == "__main__":
    main()
