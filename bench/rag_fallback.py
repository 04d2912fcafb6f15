"""Do runs that a route keeps local wait for the web search of the others? pipelines/
rag_fallback.yaml over the e2e test's four documents, against llmkit's fake search server:
the 70 questions with strong local hits run alone, then mixed with 30 whose hits are weak
(one `iter_many` of 100) while the web answers in 50 ms, then in 1,000 ms.

    python -m bench.rag_fallback [--rounds 9]

Prints, for the 70 strong runs, the time from the start to their result in each case: the
median over all rounds, and the median over rounds of the last one's (a round slowed by the
machine moves a p95 but not these); and the ratios: slow web / fast web is 1.0 when they
never wait for the web (mixed / alone also counts the 30 extra questions embedded and
searched in the same batches). Then the web node's calls and items, and the search server's
request count.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.concurrent_callers import percentile
from llmkit import load_pipeline
from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from tests.e2e.conftest import PIPELINES, server_env
from tests.e2e.test_rag_fallback import questions
from tests.servers.process import FakeServerProcess


def latencies(p: Pipeline, asked: list[str], profile: Profile) -> dict[int, float]:
    """Seconds from the start to each run's result, by the run's place in `asked`."""
    started = time.perf_counter()
    return {i: time.perf_counter() - started for i, _ in p.iter_many(
        [{"question": q} for q in asked], ordered=False, profile=profile)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asked, weak = questions()
    strong = [q for i, q in enumerate(asked) if i not in weak]
    with FakeServerProcess() as server, tempfile.TemporaryDirectory() as folder:
        p = load_pipeline(PIPELINES / "rag_fallback.yaml", env=server_env(server, Path(folder)))
        p.run(question=strong[0])  # builds the index
        latencies(p, asked, Profile())  # and opens the connections to the search server
        server.control.reset_stats()
        cases: dict[str, list[list[float]]] = {"alone": [], "web 50 ms": [], "web 1000 ms": []}
        profile = Profile()
        for _ in range(args.rounds):  # interleaved, so load on the machine hits all alike
            cases["alone"].append(list(latencies(p, strong, Profile()).values()))
            for latency in (50, 1000):
                server.control.config(latency_ms=latency)
                times = latencies(p, asked, profile)
                cases[f"web {latency} ms"].append([t for i, t in times.items() if i not in weak])
        requests = server.control.stats()["requests"]
    print(f"the 70 strong runs, {args.rounds} rounds:")
    typical = {name: percentile([t for r in rounds for t in r], .5)
               for name, rounds in cases.items()}
    last = {name: percentile([max(r) for r in rounds], .5) for name, rounds in cases.items()}
    for name in cases:
        print(f"  {name:12} median {typical[name] * 1e3:6.1f} ms   "
              f"last of 70 {last[name] * 1e3:6.1f} ms")
    for a, b in (("web 1000 ms", "web 50 ms"), ("web 50 ms", "alone")):
        print(f"  {a} / {b}: median {typical[a] / typical[b]:.2f}, "
              f"last {last[a] / last[b]:.2f}")
    web = profile.node("web")
    print(f"web node: {web.items} items in {web.calls} calls; search server requests: "
          f"{requests}")


if __name__ == "__main__":
    main()
