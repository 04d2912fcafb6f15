"""Which embedder when: the hashing embedder against MiniLM, side by side in one run.

Speed, on the chunks of docs/ as `llmkit ingest` cuts them (800 characters, overlap 120):
chunks per second embedding them all (median of `--rounds`), one question's embedding
latency, and MiniLM's first call (loading the model). Quality, with `llmkit eval`'s
runner over pipelines/datasets/docs_qa.jsonl: pipelines/rag.yaml against
pipelines/rag_minilm.yaml (and hybrid.yaml), each on a fresh index in a temporary folder so
that the user's `.llmkit/` is never touched (the first question of each pipeline builds its
index; that build is not in the latency figures, which are per question). Prints tables;
asserts nothing. Needs `pip install 'llmkit[embeddings]'`.

    python -m bench.embedders [--rounds 3] [--no-quality]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmkit.nodes.retrieval.documents import find_files, read_chunks
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.minilm import MiniLMEmbedder

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("rag.yaml", "hybrid.yaml", "rag_minilm.yaml")


def chunks() -> list[str]:
    """The texts of docs/'s chunks, as an ingest with the default settings cuts them."""
    _, files = find_files(str(ROOT / "docs"), ("*.md",))
    return [c["text"] for f in files for c in read_chunks(f, f.name, 800, 120)]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(texts: list[str], rounds: int) -> None:
    hashing, minilm = HashingEmbedder(), MiniLMEmbedder()
    load = timed(lambda: minilm.embed(["warm up: loads the model"]))
    question = ["How does llmkit cache node results?"]
    print(f"{len(texts)} chunks of docs/ (800 chars), median of {rounds} rounds; "
          f"{platform.machine()}, {os.cpu_count()} cores")
    print("| embedder | chunks/s | one question, ms | first call (load), s |")
    print("|---|---:|---:|---:|")
    for name, embedder, first in (("hashing", hashing, 0.0), ("minilm", minilm, load)):
        bulk = statistics.median(timed(lambda e=embedder: e.embed(texts))
                                 for _ in range(rounds))
        one = statistics.median(timed(lambda e=embedder: e.embed(question))
                                for _ in range(rounds * 5))
        print(f"| {name} | {len(texts) / bulk:,.0f} | {one * 1e3:.1f} | {first:.2f} |")


def quality() -> None:
    from llmkit.eval import evaluate, load_dataset
    from llmkit.eval.report import table
    from llmkit.spec import load_pipeline

    examples = load_dataset(ROOT / "pipelines" / "datasets" / "docs_qa.jsonl")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LLMKIT_DOCS": str(ROOT / "docs"),
               "LLMKIT_INDEX": f"{tmp}/hashing", "LLMKIT_MINILM_INDEX": f"{tmp}/minilm"}
        for name in PIPELINES:
            p = load_pipeline(ROOT / "pipelines" / name, env=env)
            p.run(question=examples[0].question)  # builds the index outside the timings
            results.append(evaluate(p, examples, path=name, k=4))
    print(f"\npipelines/datasets/docs_qa.jsonl: {len(examples)} questions, k=4")
    print(table(results))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    args = parser.parse_args(argv)
    speed(chunks(), args.rounds)
    if not args.no_quality:
        quality()


if __name__ == "__main__":
    main()
