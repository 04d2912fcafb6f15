"""Cold start of the `llmkit` command: fresh processes, side by side with `python -c pass`.

    python -m bench.cold_start [--runs 21] [--no-bytecode] [--baseline DIR]

Times `python -c pass`, `llmkit --help`, `llmkit validate pipelines/rag.yaml` and a fully
cached `llmkit run pipelines/rag.yaml -i question=...`, each in `--runs` fresh subprocesses
taken in turn (so load on a shared machine hits every command alike), and prints the median
in ms, the ratio to `python -c pass` and the time above it (targets: `--help` ≤ 150 ms, the
cached run ≤ 400 ms on a quiet machine). The index and the cache live in a temporary folder
(`LLMKIT_INDEX`, `--cache`) and are warmed first; the warm run is checked to call no node.
Bytecode is compiled once into a temporary `PYTHONPYCACHEPREFIX`, as an installed package
has it, unless `--no-bytecode` (every module compiled from source, every time).

`--baseline DIR` times another checkout's code in the same run, each command next to this
one's: e.g. the code before a change, `git archive HEAD | tar -x -C DIR`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTION = "question=How does llmkit cache node results?"


def llmkit_command() -> list[str]:
    """The installed `llmkit` script beside this interpreter, or `python -m llmkit`."""
    script = Path(sys.executable).with_name("llmkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llmkit"]


def environment(tmp: Path, bytecode: bool, code: Path | None) -> dict[str, str]:
    """This process's environment with the index in `tmp`, bytecode cached there, and
    `code` (a staged checkout) first on the import path."""
    env = dict(os.environ, LLMKIT_INDEX=str(tmp / "index"), LLMKIT_DOCS=str(REPO / "docs"))
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH"):
        env.pop(name, None)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def stage(checkout: Path, into: Path) -> Path:
    """A copy of `checkout`'s package with `nodes/` at `llmkit/nodes`, where the installed
    package maps it, so that it imports ahead of the installed one."""
    shutil.copytree(checkout / "llmkit", into / "llmkit")
    shutil.copytree(checkout / "nodes", into / "llmkit" / "nodes")
    return into


def assert_fully_cached(run: list[str], env: dict[str, str]) -> None:
    """Fail unless `run --profile` shows every node answered from the cache (no calls)."""
    proc = subprocess.run([*run, "--profile"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)
    table = [line.split() for line in proc.stderr.split("-" * 20)[-1].splitlines()
             if line.strip("- ")]
    if not table or any(row[1] != "0" for row in table):
        raise SystemExit(f"the warm run still calls nodes:\n{proc.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="processes per command")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile every module from source in every process")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time the checkout in DIR, command by command")
    args = parser.parse_args()
    llmkit = llmkit_command()
    if args.baseline and llmkit[0] == sys.executable:  # `-m` would import ./llmkit first
        parser.error("--baseline needs the installed `llmkit` script")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        variants: list[tuple[str, Path | None]] = [("", None)]
        if args.baseline:
            variants.insert(0, (" [baseline]", stage(args.baseline.resolve(), tmp / "base")))
        cases: list[tuple[str, list[str], dict[str, str], float | None]] = []
        runs = []
        for suffix, code in variants:
            home = tmp / f"v{len(runs)}"
            env = environment(home, bytecode=not args.no_bytecode, code=code)
            run = [*llmkit, "run", "pipelines/rag.yaml", "-i", QUESTION,
                   "--cache", str(home / "cache.db")]
            runs.append((run, env))
            if not cases:
                cases.append(("python -c pass", [sys.executable, "-c", "pass"], env, None))
            cases += [
                ("llmkit --help" + suffix, [*llmkit, "--help"], env, 150.0),
                ("llmkit validate pipelines/rag.yaml" + suffix,
                 [*llmkit, "validate", "pipelines/rag.yaml"], env, None),
                ("llmkit run pipelines/rag.yaml (cached)" + suffix, run, env, 400.0),
            ]
        for _, argv, env, _ in cases * 2:  # compile bytecode, build the index, fill the cache
            subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)
        for run, env in runs:
            assert_fully_cached(run, env)
        times: dict[str, list[float]] = {label: [] for label, *_ in cases}
        for _ in range(args.runs):
            for label, argv, env, _ in cases:
                start = time.perf_counter()
                subprocess.run(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)
                times[label].append((time.perf_counter() - start) * 1e3)
    base = statistics.median(times[cases[0][0]])
    print(f"median of {args.runs} fresh processes each, "
          f"{'no bytecode' if args.no_bytecode else 'bytecode cached'}, {sys.executable}")
    print(f"{'command':<51} {'ms':>7} {'ratio':>6} {'+ms':>7} {'target':>8}")
    for label, _, _, target in cases:
        ms = statistics.median(times[label])
        print(f"{label:<51} {ms:7.1f} {ms / base:5.1f}x {ms - base:7.1f} "
              f"{f'≤ {target:.0f}' if target else '':>8}")


if __name__ == "__main__":
    main()
