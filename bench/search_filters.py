"""Per-run filters on the `search` node, measured side by side in one process.

    python -m bench.search_filters [--rows 100000] [--dim 384] [--queries 256] [--k 4]

Rows: one `VectorIndex.search` of the whole micro-batch (what the node did before it had a
`filter` port), the node's batch with no run filtering (must be the same one product), the
batch with runs spread over 4 filters (one product per filter), and the same runs searched
one by one. Each figure is queries/s, best of --repeat. No assertions: it reports.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.search import best_of
from llmkit.nodes.retrieval.nodes import Search
from llmkit.nodes.retrieval.vector_index import VectorIndex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    index = VectorIndex(args.dim)
    sources = [f"doc{i % 8}.md" for i in range(args.rows)]
    index.add([str(i) for i in range(args.rows)],
              rng.standard_normal((args.rows, args.dim), dtype=np.float32),
              [{"source": s} for s in sources])
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    node = Search(index, k=args.k)
    plain = [{"vector": q, "filter": None} for q in queries]
    filters = [None, {"source": "doc1.md"}, {"source": ["doc2.md", "doc3.md"]},
               {"source": "doc4.md"}]
    mixed = [{"vector": q, "filter": filters[i % 4]} for i, q in enumerate(queries)]
    cases = {
        "index.search, whole batch (before)": lambda: index.search(queries, args.k),
        "node, no run filters": lambda: node._answer(plain, queries),
        "node, runs over 4 filters": lambda: node._answer(mixed, queries),
        "one search per run, 4 filters": lambda: [
            index.search(item["vector"], args.k, item["filter"]) for item in mixed],
    }
    base = None
    print(f"{args.rows} rows x {args.dim}, {args.queries} queries, k={args.k}")
    for name, fn in cases.items():
        rate = args.queries / best_of(args.repeat, fn)
        base = base or rate
        print(f"  {name:40s} {rate:10,.0f} q/s  {rate / base:5.2f}x")


if __name__ == "__main__":
    main()
