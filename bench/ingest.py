"""Ingest benchmark: split + embed + index add + save of a synthetic corpus, stage by stage.

    python -m bench.ingest [--chunks 100000] [--dim 384] [--size 600] [--overlap 80] [--bm25]

The corpus is deterministic random words (Zipf-like frequencies) in Markdown documents with
headings, paragraphs and sentences, sized to give about --chunks chunks. Prints chunks/s for
each stage and overall, and the process's peak RSS. No assertions: it reports.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import tempfile
import time
from pathlib import Path

from llmkit.nodes.retrieval.bm25 import BM25Index
from llmkit.nodes.retrieval.documents import split
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.vector_index import VectorIndex


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def synthetic_documents(chunks: int, size: int, seed: int = 0) -> list[dict]:
    """Markdown documents of ~12 chunks each, about `chunks` chunks in all."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(20000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]

    def sentence() -> str:
        return " ".join(rng.choices(vocab, weights, k=rng.randint(6, 22))).capitalize() + "."

    docs, target = [], chunks * size * 0.68  # each chunk advances ~0.68 size (breaks, overlap)
    total = 0
    while total < target:
        sections = []
        for s in range(4):
            paragraphs = [" ".join(sentence() for _ in range(rng.randint(2, 6)))
                          for _ in range(rng.randint(2, 5))]
            sections.append(f"## Section {s}\n\n" + "\n\n".join(paragraphs))
        text = f"# Document {len(docs)}\n\n" + "\n\n".join(sections)
        docs.append({"id": f"doc{len(docs)}.md", "source": f"doc{len(docs)}.md", "format": "md",
                     "text": text})
        total += len(text)
    return docs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--size", type=int, default=600)
    parser.add_argument("--overlap", type=int, default=80)
    parser.add_argument("--batch", type=int, default=4096, help="chunks embedded per call")
    parser.add_argument("--bm25", action="store_true", help="also build and save a BM25 index")
    args = parser.parse_args(argv)

    docs = synthetic_documents(args.chunks, args.size)
    base_rss = peak_rss_mib()
    times: dict[str, float] = {}

    start = time.perf_counter()
    chunks = [c for d in docs for c in split(d, size=args.size, overlap=args.overlap)]
    times["split"] = time.perf_counter() - start
    n = len(chunks)
    texts = [c["text"] for c in chunks]
    ids = [c["id"] for c in chunks]
    meta = [{"text": c["text"], "source": c["source"], "start": c["start"]} for c in chunks]

    embedder = HashingEmbedder(dim=args.dim)
    index = VectorIndex(args.dim)
    times["embed"] = times["add"] = 0.0
    for i in range(0, n, args.batch):
        start = time.perf_counter()
        vectors = embedder.embed(texts[i:i + args.batch])
        middle = time.perf_counter()
        index.add(ids[i:i + args.batch], vectors, meta[i:i + args.batch])
        times["embed"] += middle - start
        times["add"] += time.perf_counter() - middle

    out = Path(tempfile.mkdtemp(prefix="llmkit-ingest-"))
    try:
        start = time.perf_counter()
        index.save(out / "index")
        times["save"] = time.perf_counter() - start
        if args.bm25:
            start = time.perf_counter()
            keyword = BM25Index()
            keyword.add(ids, texts, [{"source": c["source"]} for c in chunks])
            times["bm25 add"] = time.perf_counter() - start
            start = time.perf_counter()
            keyword.save(out / "bm25")
            times["bm25 save"] = time.perf_counter() - start
        on_disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)

    chars = sum(len(t) for t in texts)
    print(f"## Ingest: {len(docs):,} documents -> {n:,} chunks (mean {chars / n:.0f} chars), "
          f"dim {args.dim}; shared 2-core VM")
    for stage, t in times.items():
        print(f"{stage:<10} {t:8.2f} s  {n / t:10.0f} chunks/s")
    total = sum(times.values())
    print(f"{'total':<10} {total:8.2f} s  {n / total:10.0f} chunks/s")
    print(f"peak RSS {peak_rss_mib():.0f} MiB (corpus generated: {base_rss:.0f} MiB); "
          f"on disk {on_disk / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
