"""Peak memory of `llmkit ingest` on one large Markdown file.

    python -m bench.ingest_large [--mb 200] [--keep DIR]

Writes a deterministic Markdown file of about --mb megabytes (headings, paragraphs of random
words), runs `llmkit ingest` on it in a child process and prints the child's wall time and
peak RSS. No assertions: it reports.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_markdown(path: Path, megabytes: float, seed: int = 0) -> None:
    """About `megabytes` MB of Markdown: sections of a heading and a few paragraphs."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(20000)]
    # One megabyte of sections, repeated with a counter so headings and chunk ids differ.
    sections = []
    for s in range(40):
        paragraphs = [" ".join(rng.choices(vocab, k=rng.randint(40, 120))).capitalize() + "."
                      for _ in range(rng.randint(3, 8))]
        sections.append(f"## Section {s}\n\n" + "\n\n".join(paragraphs) + "\n\n")
    block = "".join(sections)
    with path.open("w", encoding="utf-8") as out:
        written, n = 0, 0
        while written < megabytes * 1e6:
            text = f"# Part {n}\n\n{block}"
            out.write(text)
            written += len(text)
            n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        (work / "docs").mkdir(parents=True, exist_ok=True)
        source = work / "docs" / "big.md"
        write_markdown(source, args.mb)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "llmkit", "ingest", str(source.parent),
                        "--index", str(work / "index")], check=True)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{source.stat().st_size / 1e6:.0f} MB file: {elapsed:.1f} s, "
              f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
