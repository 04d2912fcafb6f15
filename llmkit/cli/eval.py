"""`llmkit eval PIPELINE... --dataset FILE`: the command's options and its handler. Only
argparse is imported until the command runs (`llmkit --help` stays fast)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmkit.cli import plugins
from llmkit.errors import InputError

__all__ = ["add_parser"]


def add_parser(commands: Any, positive: Callable[[str], int]) -> None:
    """The `eval` sub-command, under `commands` (an argparse sub-parsers action)."""
    ev = commands.add_parser(
        "eval", help="measure retrieval and answer quality on a labelled set",
        description="Run each pipeline over a JSONL set of labelled questions and show "
                    "retrieval and answer metrics, latency and calls side by side "
                    "(docs/retrieval.md, 'Measuring quality').")
    ev.add_argument("pipelines", metavar="PIPELINE", nargs="+", type=Path,
                    help="pipeline files, each a row of the table")
    ev.add_argument("--dataset", metavar="FILE", required=True,
                    help="JSONL questions: question, and optionally id, sources, answers")
    ev.add_argument("--k", type=positive, default=4, metavar="N",
                    help="retrieval metrics over the top N sources (default 4)")
    ev.add_argument("--limit", type=positive, metavar="N", help="only the first N questions")
    ev.add_argument("--split", metavar="NAME",
                    help='only the questions labelled "split": NAME (e.g. holdout)')
    ev.add_argument("--retrieved", metavar="OUTPUT",
                    help="the output holding the ranked sources (default sources)")
    ev.add_argument("--answer", metavar="OUTPUT", help="the output holding the answer "
                                                       "(default answer)")
    ev.add_argument("--window", type=positive, default=1, metavar="N",
                    help="questions in flight at once (default 1: latency of one question)")
    ev.add_argument("--cache", metavar="URL", help="a result cache to read and write "
                                                   "(default: none, every question runs)")
    ev.add_argument("--json", metavar="FILE", help="write the full report, every question, "
                                                   "as JSON")
    ev.add_argument("--chart", metavar="FILE.svg", help="draw the metrics as an SVG bar chart")
    ev.add_argument("--judge", metavar="URL|TYPE",
                    help="also score answers with an LLM judge: an OpenAI-compatible base "
                         "URL or a chat resource type (openai_chat, ollama_chat)")
    ev.add_argument("--judge-model", metavar="NAME",
                    help="the judge's model (default $LLMKIT_MODEL)")
    plugins.add_code_options(ev, "the files")
    ev.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check everything, run every pipeline, print the table, write the files asked for."""
    from llmkit.eval import evaluate, load_dataset
    from llmkit.eval.report import report, table
    from llmkit.spec import load_pipeline, scrub_secrets

    _check_outputs_paths(args)
    examples = load_dataset(args.dataset, args.limit, args.split)
    if args.allow_import and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    pipelines = [load_pipeline(path, allow_import=args.allow_import) for path in args.pipelines]
    for path, p in zip(args.pipelines, pipelines, strict=True):
        _check_outputs(path, p.output_map, args)
    judge = _judge(args) if args.judge else None
    store = _cache(args.cache)
    try:
        results = [evaluate(p, examples, path=str(path), k=args.k,
                            retrieved=args.retrieved or "sources",
                            answer=args.answer or "answer", window=args.window, cache=store)
                   for path, p in zip(args.pipelines, pipelines, strict=True)]
        if judge is not None:
            for result in results:
                judge.score(result.outcomes, cache=store)
    finally:
        if store is not None:
            store.close()
    for p, result in zip(pipelines, results, strict=True):
        for outcome in result.outcomes:
            if outcome.error is not None:
                outcome.error = scrub_secrets(p, outcome.error)
    _name_rows(results)
    label = judge.label if judge is not None else None
    print(f"{args.dataset}: {len(examples)} questions, k={args.k}, window={args.window}")
    print(table(results, label))
    if args.json:
        import json

        _write(args.json, json.dumps(report(results, dataset=args.dataset, window=args.window,
                                            judge=label), indent=1, ensure_ascii=False) + "\n")
    if args.chart:
        from llmkit.eval.chart import svg

        _write(args.chart, svg(results))
    failed = sum(r.errors for r in results)
    sys.stdout.flush()  # the table before any note on stderr
    if failed:
        print(f"llmkit: {failed} run{'s' if failed != 1 else ''} failed (their errors are in "
              "the --json report)", file=sys.stderr)
    return 1 if failed else 0


def _check_outputs_paths(args: argparse.Namespace) -> None:
    """`--json` and `--chart` are written over the path named and nothing else: never over
    the dataset, a pipeline, or each other."""
    from llmkit.cli.output import same_file

    if args.chart and not args.chart.lower().endswith(".svg"):
        raise InputError(f"--chart {args.chart}: the chart is an SVG file; name it "
                         "something.svg (a browser opens it; rsvg-convert makes a PNG)")
    if args.json and args.chart and os.path.abspath(args.json) == os.path.abspath(args.chart):
        raise InputError("--json and --chart name the same file; give each its own")
    inputs = [args.dataset, *args.pipelines]
    for option, target in (("--json", args.json), ("--chart", args.chart)):
        if target is None or not os.path.exists(target):
            continue
        for source in inputs:
            if os.path.exists(source) and same_file(os.stat(source), os.stat(target)):
                raise InputError(f"{option} {target} is the input file {source}: writing there "
                                 "would destroy it; choose another file")


def _check_outputs(path: Path, outputs: dict[str, str], args: argparse.Namespace) -> None:
    """A pipeline must have the outputs named, and at least one of the defaults."""
    for option, name in (("--retrieved", args.retrieved), ("--answer", args.answer)):
        if name is not None and name not in outputs:
            raise InputError(f"{path}: no output '{name}' (for {option}); its outputs: "
                             f"{', '.join(outputs) or 'none'}")
    if not {args.retrieved or "sources", args.answer or "answer"} & set(outputs):
        raise InputError(f"{path}: neither a 'sources' nor an 'answer' output to score; name "
                         f"them with --retrieved/--answer (its outputs: "
                         f"{', '.join(outputs) or 'none'})")


def _judge(args: argparse.Namespace) -> Any:
    from llmkit.eval.judge import Judge, open_judge

    llm = open_judge(args.judge, args.judge_model)
    return Judge(llm, f"{llm.model} at {llm.http.base_url}")


def _cache(url: str | None) -> Any:
    if url is None:
        return None
    from llmkit.cache import open_cache

    return open_cache(url)


def _name_rows(results: list[Any]) -> None:
    """Rows are named by pipeline name, or by file where two pipelines share a name."""
    names = [r.name for r in results]
    for r in results:
        if names.count(r.name) > 1:
            r.name = r.path


def _write(path: str, text: str) -> None:
    """`text` to `path`, atomically (a temporary file renamed over it when whole)."""
    from llmkit.cli.output import output_file

    with output_file(path) as out:
        out.write(text.encode("utf-8"))
    sys.stdout.flush()
    print(f"wrote {path}", file=sys.stderr)
