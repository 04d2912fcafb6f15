"""The `llmkit` command: run, validate and draw pipeline files, list node types, serve
pipelines over HTTP, and inspect or clear the result cache. docs/cli.md is the reference.

Exit codes: 0 ok; 1 some runs failed (each failure is in the output, with its node and
cause); 2 bad usage or an invalid pipeline; 130 interrupted. An error is one line,
`llmkit: error: ...`, never a traceback. Imports are lazy: `llmkit --help` loads neither
numpy nor the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.cli import eval as eval_command
from llmkit.cli import plugins
from llmkit.errors import LlmkitError, did_you_mean, one_line

if TYPE_CHECKING:
    from llmkit.cache import CacheStore
    from llmkit.core.pipeline import Pipeline
    from llmkit.core.stats import Profile

__all__ = ["main"]

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class UsageError(LlmkitError):
    """The command line asks for something impossible (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the `llmkit` command with `argv` (default: `sys.argv[1:]`); the exit code."""
    if threading.current_thread() is threading.main_thread():
        # A shell may start us with SIGINT ignored (background jobs); Ctrl-C must still work.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    args = _parser().parse_args(argv)
    try:
        plugins.use(args)
        return args.handler(args)
    except KeyboardInterrupt:
        print("llmkit: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `llmkit ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
    except Exception as exc:
        yaml = sys.modules.get("yaml")
        if isinstance(exc, (LlmkitError, OSError)) or (
                yaml is not None and isinstance(exc, yaml.YAMLError)):
            _error(one_line(exc))
            return USAGE
        raise


def _error(message: str) -> None:
    print("llmkit: error: " + " ".join(message.split()), file=sys.stderr)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, not {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmkit", description="Run and inspect llmkit pipeline files.",
        epilog="exit codes: 0 ok, 1 some runs failed, 2 bad usage or invalid pipeline, "
               "130 interrupted")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    pipeline = argparse.ArgumentParser(add_help=False)
    pipeline.add_argument("pipeline", metavar="PIPELINE", type=Path, help="a pipeline file")
    plugins.add_code_options(pipeline, "the file")
    cache = argparse.ArgumentParser(add_help=False)
    cache.add_argument("--cache", metavar="URL",
                       help="memory://, sqlite:///path.db, redis://host:6379/0 or a path "
                            "(default .llmkit/cache.db)")

    run = commands.add_parser("run", parents=[pipeline], help="run a pipeline",
                              description="Run once with -i, or over a JSONL file of inputs.")
    run.add_argument("-i", "--input", action="append", default=[], metavar="KEY=VALUE",
                     help="a pipeline input (KEY:=JSON for a JSON value); repeat per input")
    run.add_argument("--input-file", metavar="FILE",
                     help="JSONL inputs, one object per line ('-' for stdin)")
    run.add_argument("-o", "--output", metavar="FILE",
                     help="write JSONL results here (default stdout)")
    run.add_argument("--ordered", action="store_true",
                     help="write results in input order (default: as they finish)")
    run.add_argument("--json", action="store_true", help="print one run's outputs as JSON")
    caching = run.add_mutually_exclusive_group()
    caching.add_argument("--cache", metavar="URL",
                         help="memory://, sqlite:///path.db, redis://host:6379/0 or a path "
                              "(default .llmkit/cache.db)")
    caching.add_argument("--no-cache", action="store_true", help="neither read nor write")
    run.add_argument("--concurrency", type=_positive, metavar="N",
                     help="calls in flight per node, for every node")
    run.add_argument("--window", type=_positive, metavar="N",
                     help="runs in flight at once (default 1024)")
    run.add_argument("--profile", action="store_true",
                     help="print per-node statistics to stderr at the end")
    run.add_argument("--profile-out", metavar="FILE",
                     help="draw the run: the graph with each node's figures (.svg, .html, "
                          "or .png with pip install 'llmkit[draw]')")
    run.add_argument("--executor", metavar="dask|dask://HOST:PORT",
                     help="run --input-file's runs on Dask: a local cluster (a worker per "
                          "core) or an existing scheduler (docs/dask.md)")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", parents=[pipeline], help="check a pipeline")
    validate.set_defaults(handler=_validate)
    graph = commands.add_parser("graph", parents=[pipeline], help="draw a pipeline")
    graph.add_argument("--format", choices=("svg", "png", "html", "mermaid", "dot"),
                       help="default mermaid, or as -o's suffix says (png: pip install "
                            "'llmkit[draw]')")
    graph.add_argument("-o", "--output", metavar="FILE",
                       help="write the picture here (replaced at once) instead of stdout")
    graph.set_defaults(handler=_graph)
    nodes = commands.add_parser("nodes", help="list node and resource types")
    plugins.add_option(nodes)
    nodes.set_defaults(handler=_nodes)

    ingest = commands.add_parser(
        "ingest", help="index a folder of documents for search",
        description="Split, embed and index the documents under PATH into the index directory "
                    "(incremental: unchanged files are skipped; the write is atomic). With "
                    "--pipeline, build the index of that pipeline's corpus, with its embedder.")
    ingest.add_argument("path", metavar="PATH", nargs="?",
                        help="a folder, file or glob of documents (with --pipeline: default "
                             "the corpus's source)")
    ingest.add_argument("--index", metavar="DIR",
                        help="the index directory (default .llmkit/index; with --pipeline, "
                             "the corpus's path)")
    ingest.add_argument("--pipeline", metavar="FILE",
                        help="use this pipeline's corpus resource: its embedder, chunking, "
                             "path and source")
    ingest.add_argument("--resource", metavar="NAME",
                        help="which corpus resource of --pipeline (when it has several)")
    plugins.add_code_options(ingest, "--pipeline")
    ingest.add_argument("--dim", type=_positive,
                        help="hashing embedder dimension (default 384)")
    ingest.add_argument("--chunk-size", type=_positive, metavar="CHARS",
                        help="default 800")
    ingest.add_argument("--overlap", type=int, metavar="CHARS", help="default 120")
    ingest.add_argument("--rebuild", action="store_true",
                        help="ignore the saved index and embed every file again (a damaged "
                             "index is rebuilt without it)")
    ingest.add_argument("-v", "--verbose", action="store_true",
                        help="name every skipped file and why (else one summary line)")
    ingest.set_defaults(handler=_ingest)
    eval_command.add_parser(commands, _positive)

    serve = commands.add_parser(
        "serve", help="serve pipelines over HTTP",
        description="Serve pipeline files over HTTP (docs/serve.md); concurrent requests "
                    "batch together. Needs: pip install 'llmkit[serve]'.")
    serve.add_argument("pipelines", metavar="PIPELINE", nargs="+", type=Path,
                       help="pipeline files, each served under its name:")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on "
                                                           "(default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000,
                       help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--cache", metavar="URL",
                       help="memory://, sqlite:///path.db, redis://host:6379/0 or a path "
                            "(default: no cache)")
    serve.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="worker processes sharing the port (default 1)")
    serve.add_argument("--token", metavar="T", help="require 'Authorization: Bearer T' "
                                                    "(default: env LLMKIT_SERVE_TOKEN)")
    serve.add_argument("--max-in-flight", type=_positive, default=1024, metavar="N",
                       help="requests running pipelines at once; beyond, 429 (default 1024)")
    serve.add_argument("--timeout", type=_seconds, default=60.0, metavar="S",
                       help="seconds per request; beyond, 504 (default 60)")
    serve.add_argument("--max-body", type=_positive, default=2**20, metavar="BYTES",
                       help="request body bytes (an NDJSON line's); beyond, 413 "
                            "(default 1048576)")
    plugins.add_code_options(serve, "the files")
    serve.set_defaults(handler=_serve)

    cache_command = commands.add_parser("cache", help="inspect or clear the result cache")
    cache_commands = cache_command.add_subparsers(metavar="ACTION", required=True)
    stats = cache_commands.add_parser("stats", parents=[cache], help="entries and bytes per node")
    stats.set_defaults(handler=_cache_stats)
    clear = cache_commands.add_parser("clear", parents=[cache], help="remove cached results")
    clear.add_argument("--node", metavar="NAME", help="only this node's results")
    clear.set_defaults(handler=_cache_clear)
    return parser


# -- shared steps --------------------------------------------------------------------------
def _load(args: argparse.Namespace) -> Pipeline:
    from llmkit.spec import load_pipeline

    if args.allow_import and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the project's own modules
    return load_pipeline(args.pipeline, allow_import=args.allow_import)


def _open_cache(url: str | None, *, must_exist: bool = False) -> CacheStore | None:
    """The store `--cache` names; None when only an existing default cache would do."""
    from llmkit.cache import DEFAULT_PATH, open_cache

    if url is None and must_exist and not os.path.exists(DEFAULT_PATH):
        return None
    return open_cache(url)


# -- run -------------------------------------------------------------------------------------
def _run(args: argparse.Namespace) -> int:
    if args.input_file and args.input:
        raise UsageError("give inputs with -i or with --input-file, not both")
    if args.output and not args.input_file:
        raise UsageError("--output is for --input-file runs; a single run prints its outputs")
    if args.executor and not args.input_file:
        raise UsageError("--executor is for --input-file runs; a single run runs here")
    from llmkit.cli.batch import RESERVED
    from llmkit.cli.pictures import check_profile_out, write_profile
    from llmkit.core.stats import Profile
    from llmkit.spec import scrub_secrets

    check_profile_out(args.profile_out)
    p = _load(args)
    inputs = None if args.input_file else _inputs(p, args.input)  # before touching the cache
    clash = [name for name in p.output_map if name in RESERVED] if args.input_file else []
    if clash:
        raise UsageError(f"output '{clash[0]}' would clash with the '{clash[0]}' field of "
                         "JSONL records: rename it under outputs:")
    if args.concurrency:
        for node in p.nodes.values():
            node.configure(concurrency=args.concurrency)
    profile = Profile()
    options: dict[str, Any] = {"profile": profile}
    if args.window:
        options["window"] = args.window
    store = None if args.no_cache else _open_cache(args.cache)
    if store is not None:
        options["cache"] = store

    def scrub(text: str) -> str:
        return scrub_secrets(p, text)

    try:
        if inputs is None:
            with _executor(args.executor) as executor:
                if executor is not None and store is not None:  # each worker opens its own
                    options["cache"] = _cache_url(args.cache)
                code = _run_batch(p, args, options, profile, scrub, executor)
        else:
            code = _run_one(p, inputs, args.json, options, scrub)
    finally:
        if store is not None:
            store.close()
    if args.profile:
        print(profile.table(), file=sys.stderr)
    if args.profile_out:
        write_profile(p, profile, args.profile_out)
    return code


@contextlib.contextmanager
def _executor(spec: str | None) -> Iterator[Any]:
    """The executor `--executor` names, connected (or its cluster started), closed after."""
    if spec is None:
        yield None
        return
    if spec != "dask" and not spec.startswith("dask://"):
        raise UsageError(f"--executor {spec!r}: expected dask (a local cluster) or "
                         "dask://HOST:PORT (an existing scheduler)")
    from llmkit.dask import DaskExecutor

    with DaskExecutor(address=None if spec == "dask" else spec) as executor:
        executor.client  # noqa: B018  (connect now: a bad address fails before any run)
        yield executor


def _cache_url(url: str | None) -> str:
    """`--cache` as workers open it: a file (the default cache's too) by its absolute path."""
    from llmkit.cache import DEFAULT_PATH

    url = DEFAULT_PATH if url is None else url
    return url if "://" in url else os.path.abspath(url)


def _inputs(p: Pipeline, pairs: list[str]) -> dict[str, Any]:
    """Run inputs from `-i KEY=VALUE` (a string; JSON for `KEY:=VALUE` or a non-text type)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        as_json = key.endswith(":")
        key = key.removesuffix(":")
        if not sep or not key:
            raise UsageError(f"-i {pair!r}: expected KEY=VALUE")
        if key not in p.inputs:
            raise UsageError(f"unknown input '{key}'{did_you_mean(key, p.inputs)}; the "
                             f"pipeline takes: {', '.join(p.inputs) or 'no inputs'}")
        if as_json or p.inputs[key] in (int, float, bool, list, dict):
            try:
                values[key] = json.loads(text)
            except ValueError:
                raise UsageError(f"input '{key}' expects a JSON value, and what follows "
                                 f"'=' is not one") from None
        else:
            values[key] = text
    missing = [name for name in p.inputs if name not in values]
    if missing:
        raise UsageError(f"missing input {', '.join(repr(m) for m in missing)}: pass "
                         f"-i {missing[0]}=VALUE, or --input-file FILE")
    return values


def _run_one(p: Pipeline, inputs: dict[str, Any], as_json: bool, options: dict[str, Any],
             scrub: Callable[[str], str]) -> int:
    from llmkit.core import background
    from llmkit.errors import NodeError
    from llmkit.values import jsonable

    shown: set[str] = set()  # outputs already printed as they streamed
    if not as_json and sys.stdout.isatty():
        result, shown = background.call(_stream_one, p, inputs, options)
    else:
        result = background.call(p.arun_many, [inputs], on_error="return", **options)[0]
    if isinstance(result, NodeError):
        cause = scrub(f"{type(result.cause).__name__}: {result.cause}")
        if as_json:
            print(json.dumps({"error": cause, "node": result.node}))
        _error(f"node '{result.node}' failed: {cause}")
        return FAILED
    if isinstance(result, LlmkitError):
        raise result
    if as_json:
        print(json.dumps(result, default=jsonable, ensure_ascii=False))
    else:
        rest = {name: value for name, value in result.items() if name not in shown}
        if rest or not shown:
            print(_readable(rest))
    return OK


async def _stream_one(p: Pipeline, inputs: dict[str, Any], options: dict[str, Any],
                      ) -> tuple[Any, set[str]]:
    """Run once, printing the streamed tokens of the last node that feeds an output (a final
    `generate`) as they arrive, then a blank line; the run's outputs or its error, and the
    names of the outputs that hold the streamed text (printed: not to print again).

    `runner.events` is what `Pipeline.astream` wraps; called directly, it takes the run
    options (`profile`, `cache`) and returns a failure instead of raising it."""
    from llmkit.core.plan import INPUT
    from llmkit.core.runner import events

    plan = p.validate()
    sources = {src for _, src, _ in plan.outputs if src != INPUT}
    streamed_node = plan.nodes[max(sources)].name if sources else None
    streamed: list[str] = []
    result: Any = None
    async for event in events(plan, inputs, on_error="return", **options):
        if event.kind == "token" and event.node == streamed_node:
            sys.stdout.write(event.data)
            sys.stdout.flush()
            streamed.append(event.data)
        elif event.kind == "result":
            result = event.data
    if not streamed:
        return result, set()
    sys.stdout.write("\n\n")
    sys.stdout.flush()
    text = "".join(streamed).strip()
    shown = {name for name, source, _ in plan.outputs if source == max(sources)
             and isinstance(result, Mapping) and isinstance(result.get(name), str)
             and result[name].strip() == text}
    return result, shown


def _run_batch(p: Pipeline, args: argparse.Namespace, options: dict[str, Any],
               profile: Profile, scrub: Callable[[str], str], executor: Any = None) -> int:
    from llmkit.cli.batch import InputLines, lines, write_results
    from llmkit.cli.output import output_file, stdout_writer
    from llmkit.core import background
    from llmkit.core.progress import Progress

    stdin = args.input_file == "-"
    source = sys.stdin.buffer if stdin else open(args.input_file, "rb")  # noqa: SIM115
    try:
        _refuse_output_over_input(source, args)
        progress = Progress(sys.stderr, profile=profile)
        if progress.enabled and source.seekable():
            progress.total = sum(1 for line in lines(source) if line is None or line.strip())
            source.seek(0)
        inputs = InputLines(source, "<stdin>" if stdin else args.input_file, progress.note,
                            p.inputs)
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(output_file(args.output)) if args.output \
                else stdout_writer()
            stack.callback(progress.close)
            failed = background.call(write_results, p, inputs, out, ordered=args.ordered,
                                     progress=progress, scrub=scrub, executor=executor,
                                     **options)
    finally:
        if not stdin:
            source.close()
    if failed:
        print(f"llmkit: {failed} run{'s' if failed != 1 else ''} failed (see the error "
              "records in the output)", file=sys.stderr)
    return FAILED if failed else OK


def _refuse_output_over_input(source: Any, args: argparse.Namespace) -> None:
    """Results written over their own input file would destroy it: refuse (through links
    too, and for a shell's `>> FILE` on stdout)."""
    from llmkit.cli.output import same_file

    try:
        read = os.fstat(source.fileno())
        written = os.stat(args.output) if args.output else os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):  # a new output file; a stream without a file (tests)
        return
    if stat.S_ISREG(read.st_mode) and same_file(read, written):
        where = f"--output {args.output}" if args.output else "stdout"
        read_from = "stdin" if args.input_file == "-" else args.input_file
        raise UsageError(f"{where} is the input file {read_from}: writing the results there "
                         "would destroy the inputs; choose another output file")


def _readable(outputs: Mapping[str, Any]) -> str:
    """Outputs for a person: each name, then its value; lists one item per line."""
    lines = []
    for name, value in outputs.items():
        if isinstance(value, str) and "\n" in value:
            lines += [f"{name}:", *("  " + line for line in value.splitlines())]
        elif isinstance(value, (list, tuple)) and value and not _is_scalar(value[0]):
            lines.append(f"{name}: {len(value)} item{'s' if len(value) != 1 else ''}")
            lines += [f"  {i}. {_compact(item)}" for i, item in enumerate(value, 1)]
        else:
            lines.append(f"{name}: {_compact(value, top=True)}")
    return "\n".join(lines)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _compact(value: Any, *, top: bool = False, nested: bool = False, width: int = 100) -> str:
    """One short line for a value: `id="doc-3"  score=0.8123  text="Paris is…"`. `top`: an
    output's own value (text unquoted); `nested`: inside another value."""
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # a numpy scalar
        value = value.item()
    if isinstance(value, str):
        text = value if top else json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, Mapping) and not nested:
        text = "  ".join(f"{k}={_compact(v, nested=True, width=60)}" for k, v in value.items())
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {_compact(v, nested=True, width=40)}"
                               for k, v in value.items()) + "}"
    elif hasattr(value, "dtype") and hasattr(value, "shape"):  # a numpy array
        values = ", ".join(_compact(v) for v in value.ravel()[:8].tolist())
        more = ", …" if value.size > 8 else ""
        text = f"{value.dtype}{list(value.shape)} [{values}{more}]"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_compact(v, nested=True, width=40) for v in value) + "]"
    else:
        text = str(value)
    return text if top or len(text) <= width else text[:width - 1] + "…"


# -- validate, graph, nodes --------------------------------------------------------------------
def _validate(args: argparse.Namespace) -> int:
    p = _load(args)
    n = len(p.nodes)
    print(f"ok: {n} node{'s' if n != 1 else ''}, inputs {', '.join(p.inputs) or '(none)'}, "
          f"outputs {', '.join(p.output_map) or '(none)'}")
    return OK


def _graph(args: argparse.Namespace) -> int:
    from llmkit.cli.pictures import graph

    graph(_load(args), args)
    return OK


def _nodes(args: argparse.Namespace) -> int:
    from llmkit.cli.render import node_types
    from llmkit.spec.catalog import broken_plugins

    print(node_types())
    for problem in broken_plugins():
        print(f"llmkit: warning: plugin {problem}", file=sys.stderr)
    return OK


# -- ingest ------------------------------------------------------------------------------------
def _ingest(args: argparse.Namespace) -> int:
    from llmkit.cli.ingest import open_corpus

    corpus, source = open_corpus(args)
    report = corpus.ingest(source)
    if report.problems:
        from llmkit.nodes.retrieval.skipped import skipped_summary

        for problem in report.problems if args.verbose else ():
            print(f"skipped {problem['source']}: {problem['error']}", file=sys.stderr)
        print(f"llmkit: warning: {skipped_summary(report.problems)}", file=sys.stderr)
    if not len(corpus):
        print(f"llmkit: warning: no documents found under {source} "
              f"(looked for {', '.join(corpus.patterns)})", file=sys.stderr)
    print(f"{corpus.path}: {report.summary()}; {len(corpus)} chunks in the index")
    return OK


# -- serve -------------------------------------------------------------------------------------
def _serve(args: argparse.Namespace) -> int:
    from llmkit.serve.server import TOKEN_ENV, load, serve

    pipelines = load(args.pipelines, args.allow_import)
    seen: dict[str, Path] = {}
    for path, p in zip(args.pipelines, pipelines, strict=True):
        if p.name in seen:
            raise UsageError(f"{seen[p.name]} and {path} are both named '{p.name}': give "
                             "each pipeline its own name:")
        seen[p.name] = path
    serve(pipelines, args.pipelines, host=args.host, port=args.port, workers=args.workers,
          cache=args.cache, token=args.token or os.environ.get(TOKEN_ENV) or None,
          max_in_flight=args.max_in_flight, timeout=args.timeout, max_body=args.max_body,
          allow_import=args.allow_import)
    return OK


# -- cache -------------------------------------------------------------------------------------
def _cache_stats(args: argparse.Namespace) -> int:
    from llmkit.cache import DEFAULT_PATH

    store = _open_cache(args.cache, must_exist=True)
    if store is None:
        print(f"no cache at {DEFAULT_PATH}")
        return OK
    with store:
        usage = store.stats()
    width = max([len("node"), *(len(name) for name in usage)])
    print(f"{'node':<{width}}  {'entries':>9}  {'bytes':>12}")
    for name, use in sorted(usage.items()):
        print(f"{name:<{width}}  {use.entries:>9,}  {use.bytes:>12,}")
    print(f"{'total':<{width}}  {sum(u.entries for u in usage.values()):>9,}  "
          f"{sum(u.bytes for u in usage.values()):>12,}")
    return OK


def _cache_clear(args: argparse.Namespace) -> int:
    from llmkit.cache import DEFAULT_PATH

    store = _open_cache(args.cache, must_exist=True)
    if store is None:
        print(f"no cache at {DEFAULT_PATH}: nothing to clear")
        return OK
    with store:
        known = store.stats() if args.node else {}
        removed = store.clear(args.node)
    what = f" of node '{args.node}'" if args.node else ""
    print(f"cleared {removed:,} entr{'y' if removed == 1 else 'ies'}{what}")
    if args.node and args.node not in known:
        print(f"note: the cache holds no results of node '{args.node}'"
              f"{did_you_mean(args.node, known)}", file=sys.stderr)
    return OK

