"""Prompt templates: per-item render cost of a compiled template against `str.format`, and
the one-off cost of importing Jinja2.

    python -m bench.templates [--n 200000]

Renders generate's default user template (`Context:\\n{context}\\n\\nQuestion: {question}`)
with a 4,000-character context, side by side in one run: `str.format` (what `generate` did
per item before), the compiled plain-field template (what `{name}` templates are now), the
same text as a Jinja2 template compiled once in the sandbox, and Jinja2 compiled per item
(what compiling once saves). Then the import time of `jinja2.sandbox` in a fresh process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmkit.nodes.generation.prompt import compile_template

PLAIN = "Context:\n{context}\n\nQuestion: {question}"
JINJA = "Context:\n{{ context }}\n\nQuestion: {{ question }}"
VALUES = {"context": "x" * 4000, "question": "How does llmkit cache node results?"}


def per_item(render, n: int) -> float:
    """Microseconds per render, best of 3."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            render(VALUES)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def import_ms() -> float:
    """Milliseconds to import jinja2.sandbox in a fresh interpreter (best of 5)."""
    code = ("import time; t = time.perf_counter(); import jinja2.sandbox; "
            "print(time.perf_counter() - t)")
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True).stdout) for _ in range(5)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    n = parser.parse_args().n
    plain, jinja = compile_template(PLAIN), compile_template(JINJA)
    base = per_item(lambda v: PLAIN.format(**v), n)
    rows = [("str.format (before)", base), ("plain {name}, compiled", per_item(plain.render, n)),
            ("Jinja2 sandbox, compiled once", per_item(jinja.render, n)),
            ("Jinja2 sandbox, compiled per item",
             per_item(lambda v: compile_template(JINJA).render(v), max(n // 100, 100)))]
    for name, us in rows:
        print(f"{name:36} {us:8.2f} us/item  {us / base:6.1f}x str.format")
    print(f"import jinja2.sandbox (fresh process)  {import_ms():.1f} ms")


if __name__ == "__main__":
    main()
