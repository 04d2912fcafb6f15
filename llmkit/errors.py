"""Every error llmkit raises, as one tree.

    LlmkitError
    ├── PipelineError ............ the pipeline definition is invalid (CLI exit 2)
    │   ├── DuplicateNodeError ... two nodes share a name
    │   ├── UnknownNodeError ..... wiring or an output names a node that does not exist
    │   ├── UnknownPortError ..... wiring or an output names a port the node does not have
    │   ├── UnwiredInputError .... a required input port has no source
    │   ├── DuplicateSourceError . one input port is wired from two sources
    │   ├── CycleError ........... the nodes do not form a DAG
    │   ├── PortTypeError ........ a wire's source type does not fit its target port's
    │   └── SpecError ............ a YAML file is malformed (carries file:line:column)
    ├── InputError ............... a run's inputs miss a pipeline input or name an unknown one
    ├── NodeError ................ a node failed for one run (node name and cause)
    ├── RetryableError ........... raised by a node to ask for a retry (optionally after N s)
    ├── StreamBrokenError ........ a call failed after some of its streamed tokens were shown,
    │                              so it is not retried (a retry would show them twice)
    ├── BackendError ............. a server or API failed for a reason no item caused (auth,
    │                              unreachable): a failing batch is not split to find an item
    ├── CacheError ............... a cache store cannot be opened or used
    └── MissingExtraError ........ an optional dependency is not installed (names the extra)

A CLI maps `PipelineError`, `InputError` and `CacheError` to exit code 2 and failed runs
(`NodeError`) to exit code 1; none of them is shown with a traceback.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable


class LlmkitError(Exception):
    """Base of every error llmkit raises on purpose."""


class PipelineError(LlmkitError):
    """The pipeline definition is invalid; raised before any node runs.

    Where it is known, the error names what is at fault in fields, for tools to locate it
    (a pipeline file's loader points at the line): `node` (a node's name), `port` (an input
    port of that node), `output` (a pipeline output's name).
    """

    def __init__(self, message: str, *, node: str | None = None, port: str | None = None,
                 output: str | None = None) -> None:
        super().__init__(message)
        self.node, self.port, self.output = node, port, output


class DuplicateNodeError(PipelineError):
    pass


class UnknownNodeError(PipelineError):
    pass


class UnknownPortError(PipelineError):
    pass


class UnwiredInputError(PipelineError):
    pass


class DuplicateSourceError(PipelineError):
    pass


class CycleError(PipelineError):
    pass


class PortTypeError(PipelineError):
    pass


class SpecError(PipelineError):
    """A pipeline file is malformed; the message starts with `file:line:column`."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        where = ":".join(str(p) for p in (file, line, column) if p is not None)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.line, self.column = file, line, column


class InputError(LlmkitError):
    """A run's inputs do not match the pipeline's declared inputs."""


class NodeError(LlmkitError):
    """Node `node` failed for run `run` because of `cause`."""

    def __init__(self, node: str, cause: BaseException, run: int | None = None) -> None:
        self.node, self.cause, self.run = node, cause, run
        detail = str(cause) or type(cause).__name__
        super().__init__(f"node '{node}' failed: {type(cause).__name__}: {detail}")

    def __reduce__(self):  # keep the error picklable across processes (Dask workers)
        return (type(self), (self.node, self.cause, self.run))


class RetryableError(LlmkitError):
    """Raise from a node to have the call retried per its retry policy.

    `retry_after` (seconds), when given, replaces the computed backoff for the next attempt.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StreamBrokenError(LlmkitError):
    """A call failed after it had streamed tokens to a listener; retrying would repeat them."""


class BackendError(LlmkitError):
    """A backend refused or could not be reached for a reason that is not one item's fault.

    The scheduler does not bisect a failed batch on this error: every half would fail too.
    """


class CacheError(LlmkitError):
    """A cache store cannot be opened or used (the message names the location)."""


class MissingExtraError(LlmkitError, ImportError):
    """An optional dependency is missing; the message says which extra installs it."""


def too_long_to_wait(exc: BaseException, ceiling: float, setting: str) -> RetryableError | None:
    """When `exc` asks to be retried after more than `ceiling` seconds (named `setting` in
    messages): the error to fail with at once instead, saying when to try again; else None."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is None or retry_after <= ceiling:
        return None
    when = time.strftime("%H:%M:%S", time.localtime(time.time() + retry_after))
    error = RetryableError(f"{exc}: server asked to retry after {retry_after:g} s (more than "
                           f"{setting}={ceiling:g}); try again after {when}",
                           retry_after=retry_after)
    error.__cause__ = exc
    return error


def one_line(exc: BaseException) -> str:
    """An error as the CLI prints it and the server answers it: one line, an `OSError` as
    `file: reason`, never a traceback (secrets are the caller's to scrub)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def require_extra(module: str, extra: str):
    """Import `module`, or raise MissingExtraError telling which llmkit extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed: pip install 'llmkit[{extra}]'"
        ) from exc
