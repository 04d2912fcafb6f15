"""JSONL batch runs for the CLI: inputs are read line by line, run as a stream, and each
finished run is written at once as one complete, flushed JSON line:

    {"index": 0, "answer": "..."}                       a run that succeeded
    {"index": 1, "error": "ValueError: ...", "node": "generate"}   a run that failed
    {"index": 2, "error": "line 3: not valid JSON: ...", "node": null}

`index` counts the non-blank input lines from 0. A line that cannot be a run (not JSON, not
an object, nested too deeply, a lone surrogate, a number out of range, an input missing or
unknown) is that run's error record; the other lines still run. The writer runs on the event
loop, so a Ctrl-C (which cancels it at an `await`) never cuts a line in half.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable, Collection, Iterator
from typing import Any, BinaryIO

from llmkit.cli.output import LineWriter
from llmkit.core.pipeline import Pipeline
from llmkit.core.progress import Progress
from llmkit.core.runner import input_mismatch
from llmkit.errors import LlmkitError, NodeError
from llmkit.values import jsonable

__all__ = ["MAX_DEPTH", "MAX_LINE_BYTES", "InputLines", "encode", "lines", "write_results"]

RESERVED = ("index", "error")  # record fields that an output name must not shadow
MAX_LINE_BYTES = 64 * 2**20  # a longer line is an error record, skipped without being held
MAX_DEPTH = 100  # lists and objects inside each other; deeper is an error record
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # may be a lone surrogate: check it


class _Malformed:
    """Stands for a line that cannot be a run: the runner fails its run."""


class _Unreadable(ValueError):
    """Valid JSON that has no Python value: a number out of range."""


def lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """The lines of `stream`, each held whole only up to `MAX_LINE_BYTES`: a longer line is
    read past in pieces and given as None."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(2**20)
            yield None
        else:
            yield line


class InputLines:
    """The runs of a JSONL stream, one per non-blank line. A line that cannot be a run with
    the pipeline's `inputs` is reported through `report` (as `name:line: problem`) and
    becomes a failed run whose record says `line N: problem`; every other line still runs."""

    def __init__(self, stream: BinaryIO, name: str, report: Callable[[str], None],
                 inputs: Collection[str]) -> None:
        self.stream = stream
        self.name = name
        self.report = report
        self.inputs = inputs
        self.problems: dict[int, str] = {}  # run index -> why its line was refused

    def __iter__(self) -> Iterator[Any]:
        index = 0
        for number, line in enumerate(lines(self.stream), 1):
            if line is not None and not line.strip():
                continue
            item, problem = self.parse(line, number)
            if problem is not None:
                self.problems[index] = f"line {number}: {problem}"
                self.report(f"llmkit: warning: {self.name}:{number}: {problem}")
                item = _Malformed()
            yield item
            index += 1

    def parse(self, line: bytes | None, number: int) -> tuple[Any, str | None]:
        """The run's inputs on one line, or why the line cannot be a run."""
        if line is None:
            return None, f"longer than {MAX_LINE_BYTES:,} bytes"
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8 text (byte {line[exc.start]:#x} at column {exc.start + 1})"
        try:
            item = json.loads(text, parse_int=_int, parse_float=_float,
                              parse_constant=_constant)
        except _Unreadable as exc:
            return None, str(exc)
        except RecursionError:
            return None, f"nested more than {MAX_DEPTH} levels deep"
        except ValueError as exc:
            return None, f"not valid JSON: {exc}"
        if not isinstance(item, dict):
            return None, f"expected a JSON object, not {type(item).__name__}"
        if text.count("[") + text.count("{") > MAX_DEPTH and _depth(item) > MAX_DEPTH:
            return None, f"nested more than {MAX_DEPTH} levels deep"
        if _SURROGATE_ESCAPE.search(text) and not _is_unicode(item):
            return None, "holds a lone surrogate (a \\udXXX escape without its pair), " \
                         "which is not Unicode text"
        return item, input_mismatch(self.inputs, item)


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > sys.get_int_max_str_digits() > 0:
        raise _Unreadable(f"an integer of {digits:,} digits is too long (at most "
                          f"{sys.get_int_max_str_digits():,})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise _Unreadable(f"the number {shown} is out of range")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _depth(value: Any) -> int:
    """How many lists and objects are nested in `value` (iteratively: any depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack += [(child, depth + 1) for child in children]
    return deepest


# Characters that str.splitlines() and some JSONL readers take for line ends: escaped, so
# every record stays on one line for any reader (JSON already escapes the ASCII ones).
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def _is_unicode(item: Any) -> bool:
    try:
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode(index: int, result: Any, problems: dict[int, str],
           scrub: Callable[[str], str]) -> tuple[bytes, bool]:
    """One output line for a run's result, and whether the run succeeded. Never fails: an
    output JSON cannot hold (NaN, a cycle, a broken `__str__`) makes an error record, and
    text that is not Unicode (a lone surrogate) is written as its JSON escape."""
    if isinstance(result, NodeError):
        record = {"index": index, "error": scrub(_describe(result.cause)),
                  "node": result.node}
    elif isinstance(result, LlmkitError):
        record = {"index": index, "error": scrub(problems.get(index) or str(result)),
                  "node": None}
    else:
        record = {"index": index, **result}
    try:
        text = json.dumps(record, default=jsonable, ensure_ascii=False,
                          allow_nan=False).translate(_LINE_BREAKS)
    except Exception as exc:  # NaN, tuple keys, too deep, an object that cannot be shown
        record = {"index": index, "node": None, "error": scrub(
            f"outputs are not JSON-serialisable: {_describe(exc)}")}
        text = json.dumps(record)  # ASCII: always encodable
    return (text + "\n").encode("utf-8", "backslashreplace"), "error" not in record


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def write_results(p: Pipeline, inputs: InputLines, out: LineWriter, *, ordered: bool,
                        progress: Progress, scrub: Callable[[str], str], executor: Any = None,
                        **options: Any) -> int:
    """Run every input, here or on `executor` (its `astream_many`), writing each result as
    soon as it is ready; the number of failed runs. `options` go to the runner (cache,
    window, profile)."""
    done = failed = 0
    broken: OSError | None = None
    stream = p.astream_many if executor is None else functools.partial(
        executor.astream_many, p)
    async with stream(inputs, ordered=ordered, on_error="return", **options) as results:
        async for item in results:
            index, result = (done, item) if ordered else item
            line, ok = encode(index, result, inputs.problems, scrub)
            try:
                out.write(line)
            except OSError as exc:  # a closed pipe, a full disk: stop, and raise it unwrapped
                broken = exc  # (raised in here, the stream's task group would wrap it)
                break
            done += 1
            failed += not ok
            progress.update(done, failed)
    if broken is not None:
        raise broken
    return failed
