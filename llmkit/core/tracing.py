"""OpenTelemetry spans of runs, node visits and calls, when the application traces.

Tracing is on when `opentelemetry` is imported and a tracer provider is set
(`trace.set_tracer_provider(...)`); llmkit never imports it itself, so without it a run pays
one dictionary lookup per entry call. The tree:

- `llmkit.run` per run, a child of the span current where `run`/`arun`/`run_many` was
  called: it starts in the caller's context, when the run is admitted (the scheduler's
  loop runs in a context of its own), and the run's node spans and calls hang under it;
- `llmkit.node` per run and node it reaches, a child of the run's span (a cache hit is one
  too, with `llmkit.cache_hit` true and no call under it);
- `llmkit.call` per call of a node, under the node span of the call's first run, linked to
  the node spans of the others: a batch call serves runs of many callers, and a span has one
  parent. The call span is current while the node runs (in its task and its worker
  thread), so spans the backends' HTTP clients make nest under it.

Attributes: `llmkit.pipeline`, `llmkit.run` (the run's index), `llmkit.node`,
`llmkit.batch_size`, `llmkit.errors`, `llmkit.cache_hit`, `llmkit.withdrawn` (a run whose
caller left before it finished), and token counts
`llmkit.prompt_tokens`, `llmkit.completion_tokens` (and `llmkit.cost` when priced) on calls,
node visits (the run's share) and runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmkit.core.usage import Usage

Run = Any  # core/scheduler.py's Run (which imports this module): its `owner`, `index`, `error`

__all__ = ["CallSpans", "RunTracer", "end_call", "run_tracer", "start_call"]

_SCOPE = "llmkit"


def run_tracer(pipeline: str) -> RunTracer | None:
    """The spans of one caller's runs of `pipeline`, or None when the application does not
    trace (OpenTelemetry not imported, or no tracer provider set)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return RunTracer(provider.get_tracer(_SCOPE), pipeline)


class RunTracer:
    """The spans of one caller's runs. A run's span starts when the caller admits it, in the
    caller's own context (its task, or the sync API's call, which carries it to the loop),
    so the span current there is its parent."""

    __slots__ = ("pipeline", "runs", "tracer")

    def __init__(self, tracer: Any, pipeline: str) -> None:
        self.tracer = tracer
        self.pipeline = pipeline
        self.runs: dict[int, Any] = {}

    def start(self, index: int) -> None:
        self.runs[index] = self.tracer.start_span(
            "llmkit.run", attributes={"llmkit.pipeline": self.pipeline, "llmkit.run": index})

    def end(self, index: int, error: BaseException | None, usage: Usage | None) -> None:
        span = self.runs.pop(index, None)
        if span is None:
            return
        _usage(span, usage)
        if error is not None:
            _failed(span, error)
        span.end()

    def close(self) -> None:
        """End the spans of runs that never finished (their caller left early)."""
        for span in self.runs.values():
            span.set_attribute("llmkit.withdrawn", True)
            span.end()
        self.runs.clear()

    def node(self, run: int, name: str, **attributes: Any) -> Any:
        """A started node span of run `run` (its run span's child); None when the run has
        ended already (it failed at another node while this call was being started)."""
        from opentelemetry import trace

        parent = self.runs.get(run)
        if parent is None:
            return None
        return self.tracer.start_span(
            "llmkit.node", context=trace.set_span_in_context(parent),
            attributes={"llmkit.node": name, "llmkit.run": run, **attributes})

    def hit(self, run: int, name: str) -> None:
        span = self.node(run, name, **{"llmkit.cache_hit": True})
        if span is not None:
            span.end()


class CallSpans:
    """A call's span, its runs' node spans, and the context token that made it current."""

    __slots__ = ("call", "nodes", "token")

    def __init__(self, call: Any, nodes: list[tuple[Run, Any]], token: Any) -> None:
        self.call, self.nodes, self.token = call, nodes, token


def start_call(name: str, runs: list[Run]) -> CallSpans | None:
    """Start the spans of a call of node `name` on `runs` and make the call's current in
    this context; None when no run's caller traces."""
    from opentelemetry import context, trace

    nodes = [(run, span) for run in runs if run.owner.trace is not None and (
        span := run.owner.trace.node(run.index, name, **{"llmkit.cache_hit": False}))
        is not None]
    if not nodes:
        return None
    first = nodes[0][1]
    links = [trace.Link(span.get_span_context()) for _, span in nodes[1:]]
    call = nodes[0][0].owner.trace.tracer.start_span(
        "llmkit.call", context=trace.set_span_in_context(first), links=links,
        attributes={"llmkit.node": name, "llmkit.batch_size": len(runs)})
    return CallSpans(call, nodes, context.attach(trace.set_span_in_context(call)))


def end_call(spans: CallSpans, runs: list[Run], outcomes: Sequence[Any] | None,
             usage: Usage | None, shares: list[Usage] | None) -> None:
    """End a call's spans: the call with its usage and errors, each node span with its
    run's share and error (`outcomes[i]`, `shares[i]` are `runs[i]`'s; None when the call
    was cancelled); the call's context is no longer current."""
    from opentelemetry import context

    context.detach(spans.token)
    by_run = {id(run): i for i, run in enumerate(runs)}
    for run, span in spans.nodes:
        i = by_run.get(id(run))
        if i is not None and shares is not None:
            _usage(span, shares[i])
        outcome = outcomes[i] if i is not None and outcomes is not None else None
        if isinstance(outcome, Exception):
            _failed(span, outcome)
        span.end()
    _usage(spans.call, usage)
    spans.call.set_attribute("llmkit.errors", sum(
        isinstance(outcome, Exception) for outcome in outcomes or ()))
    spans.call.end()


def _usage(span: Any, usage: Usage | None) -> None:
    if usage:
        span.set_attribute("llmkit.prompt_tokens", usage.prompt_tokens)
        span.set_attribute("llmkit.completion_tokens", usage.completion_tokens)
        if usage.cost:
            span.set_attribute("llmkit.cost", usage.cost)


def _failed(span: Any, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, str(error)))
