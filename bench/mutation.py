"""Mutation testing of the engine's core modules with mutmut, within a time budget.

    python -m bench.mutation [--sample N] [--seed S] [--budget-minutes M] [--children K]
                             [--workdir DIR] [--modules llmkit/x.py ...] [--tests tests/x ...]

Copies the project into a work directory (the working tree is never touched, so it may run
while others edit it), mutates `llmkit/core/scheduler.py`, `llmkit/core/memo.py`,
`llmkit/cache/keys.py` and `llmkit/spec/load.py`, and runs each mutant against the tests that
cover it among `tests/engine`, `tests/cache` and `tests/spec`. `--sample N` checks a random
sample of N mutants (`--seed` picks it); mutants are run in chunks until the budget is
spent. Prints killed / survived / other per module, the survival rate, and the surviving
mutants (`mutmut show NAME` in the work directory prints a diff). Not part of CI: a full run
takes hours on a small machine. Needs the `mutation` extra: `pip install -e ".[mutation]"`.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["llmkit/core/scheduler.py", "llmkit/core/memo.py", "llmkit/cache/keys.py",
           "llmkit/spec/load.py"]
TESTS = ["tests/engine", "tests/cache", "tests/spec"]
# Fails under mutmut's trampolines whatever the mutant (a numpy str scalar through a
# trampolined singledispatch): it would mark every keys.py mutant as killed.
DESELECT = ["tests/cache/test_keys.py::test_codec_roundtrip_keeps_value_and_hash"]
CHUNK = 25
_RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+?)\s*$")


def prepare(workdir: Path, modules: list[str], tests: list[str]) -> None:
    """Copy the sources and tests to `workdir` and write mutmut's configuration there."""
    for name in ("llmkit", "nodes", "tests"):
        shutil.copytree(ROOT / name, workdir / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    shutil.copy(ROOT / "pyproject.toml", workdir)
    lines = ["[mutmut]", "source_paths=llmkit/", "also_copy=nodes/", "only_mutate=",
             *(f"    {m}" for m in modules), "pytest_add_cli_args_test_selection=",
             *(f"    {t}" for t in tests), "pytest_add_cli_args=", "    -p", "    no:cacheprovider",
             *(f"    --deselect={d}" for d in DESELECT),
             "process_isolation=forkserver", "use_git_change_detection=false"]
    (workdir / "setup.cfg").write_text("\n".join(lines) + "\n")


def mutmut(workdir: Path, *args: str, timeout: float | None = None) -> str:
    """Run one mutmut command in `workdir`; its output, without progress spinners."""
    done = subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=workdir, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return done.stdout.replace("\r", "\n")


def results(workdir: Path) -> dict[str, str]:
    """Every mutant's name and status ("killed", "survived", "not checked", ...)."""
    found = {}
    for line in mutmut(workdir, "results", "--all", "true").splitlines():
        if match := _RESULT.match(line):
            found[match[1]] = match[2]
    return found


def module_of(mutant: str) -> str:
    """`llmkit.cache.keys.x_hash_value__mutmut_3` -> `llmkit/cache/keys.py`."""
    return "/".join(mutant.split(".")[:-1]) + ".py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=None, help="mutants to check (all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-minutes", type=float, default=25.0)
    parser.add_argument("--children", type=int, default=1, help="mutants run at once")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--tests", nargs="+", default=TESTS)
    args = parser.parse_args()
    started = time.monotonic()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llmkit-mutation-"))
    if not (workdir / "setup.cfg").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        prepare(workdir, args.modules, args.tests)
    # Generates the mutants and maps tests to functions (one run of the tests), checking none.
    print(mutmut(workdir, "run", "no-such-mutant-*").strip().splitlines()[-1:], flush=True)
    pending = sorted(name for name, status in results(workdir).items()
                     if status == "not checked")
    random.Random(args.seed).shuffle(pending)
    pending = pending[:args.sample] if args.sample is not None else pending
    deadline = started + args.budget_minutes * 60
    chosen = list(pending)
    while pending and time.monotonic() < deadline:
        chunk, pending = pending[:CHUNK], pending[CHUNK:]
        mutmut(workdir, "run", "--max-children", str(args.children), *chunk)
        print(f"{len(chosen) - len(pending)}/{len(chosen)} mutants run, "
              f"{(time.monotonic() - started) / 60:.1f} min", flush=True)
    report(results(workdir), set(chosen), workdir)


def report(statuses: dict[str, str], chosen: set[str], workdir: Path) -> None:
    """Killed / survived / other per module, and the survivors."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    survivors = []
    for name in sorted(chosen):
        status = statuses.get(name, "not checked")
        counts[module_of(name)][status] += 1
        if status == "survived":
            survivors.append(name)
    print(f"\nwork directory: {workdir}")
    print(f"{'module':26} {'killed':>7} {'survived':>9} {'other':>6}  survival")
    for module, c in sorted(counts.items()):
        other = sum(c.values()) - c["killed"] - c["survived"]
        checked = c["killed"] + c["survived"]
        rate = f"{c['survived'] / checked:.0%}" if checked else "-"
        print(f"{module:26} {c['killed']:7} {c['survived']:9} {other:6}  {rate}")
    print("\nsurvivors (mutmut show NAME):", *survivors, sep="\n  ")


if __name__ == "__main__":
    main()
