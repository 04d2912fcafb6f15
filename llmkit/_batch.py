"""JSONL batch runs for the CLI: inputs are read line by line, run as a stream, and each
finished run is written at once as one complete, flushed JSON line:

    {"index": 0, "answer": "..."}                       a run that succeeded
    {"index": 1, "error": "ValueError: ...", "node": "generate"}   a run that failed
    {"index": 2, "error": "line 3: not valid JSON: ...", "node": null}

`index` counts the non-blank input lines from 0. The writer runs on the event loop, so a
Ctrl-C (which cancels it at an `await`) never cuts a line in half.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from llmkit._progress import Progress
from llmkit.errors import LlmkitError, NodeError
from llmkit.graph import Pipeline

__all__ = ["InputLines", "encode", "jsonable", "write_results"]

RESERVED = ("index", "error")  # record fields that an output name must not shadow


class _Malformed:
    """Stands for a line that is not a JSON object: the runner fails its run."""


class InputLines:
    """The runs of a JSONL stream, one per non-blank line. A line that is not a JSON object
    is reported through `report` and becomes a failed run; every other line still runs."""

    def __init__(self, stream: BinaryIO, name: str, report: Callable[[str], None]) -> None:
        self.stream = stream
        self.name = name
        self.report = report
        self.problems: dict[int, str] = {}  # run index -> why its line was refused

    def __iter__(self) -> Iterator[Any]:
        index = 0
        for number, line in enumerate(self.stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                problem = None if isinstance(item, dict) else \
                    f"expected a JSON object, not {type(item).__name__}"
            except ValueError as exc:  # bad JSON or bad UTF-8
                problem = f"not valid JSON: {exc}"
            if problem is not None:
                self.problems[index] = f"line {number}: {problem}"
                self.report(f"llmkit: warning: {self.name}:{number}: {problem}")
                item = _Malformed()
            yield item
            index += 1


def jsonable(value: Any) -> Any:
    """`json.dumps` default: arrays and numpy scalars as lists and numbers, sets as lists,
    bytes as text, dataclasses as objects, anything else as its `str`."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def encode(index: int, result: Any, problems: dict[int, str],
           scrub: Callable[[str], str]) -> tuple[bytes, bool]:
    """One output line for a run's result, and whether the run succeeded."""
    if isinstance(result, NodeError):
        record = {"index": index, "error": scrub(f"{type(result.cause).__name__}: "
                                                 f"{result.cause}"), "node": result.node}
    elif isinstance(result, LlmkitError):
        record = {"index": index, "error": scrub(problems.get(index) or str(result)),
                  "node": None}
    else:
        record = {"index": index, **result}
    try:
        text = json.dumps(record, default=jsonable, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # e.g. a dict with tuple keys
        record = {"index": index, "error": f"outputs are not JSON-serialisable: {exc}",
                  "node": None}
        text = json.dumps(record)
    return (text + "\n").encode("utf-8"), "error" not in record


async def write_results(p: Pipeline, inputs: InputLines, out: BinaryIO, *, ordered: bool,
                        progress: Progress, scrub: Callable[[str], str],
                        **options: Any) -> int:
    """Run every input, writing each result as soon as it is ready; the number of failed
    runs. `options` go to the runner (cache, window, profile)."""
    done = failed = 0
    broken: OSError | None = None
    async with p.astream_many(inputs, ordered=ordered, on_error="return",
                              **options) as results:
        async for item in results:
            index, result = (done, item) if ordered else item
            line, ok = encode(index, result, inputs.problems, scrub)
            try:
                out.write(line)
                out.flush()
            except OSError as exc:  # a closed pipe, a full disk: stop, and raise it unwrapped
                broken = exc  # (raised in here, the stream's task group would wrap it)
                break
            done += 1
            failed += not ok
            progress.update(done, failed)
    if broken is not None:
        raise broken
    return failed
