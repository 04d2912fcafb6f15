"""Runs a pipeline over an evaluation set on its shared scheduler and scores each question.

The questions go through `Pipeline.iter_many` (micro-batched, `window` runs in flight), so a
question's latency is from the moment the runner admits it to the moment its result comes
back: with `window=1` (the default) that is one question's latency on an idle pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from llmkit.errors import InputError, LlmkitError, NodeError
from llmkit.eval import metrics
from llmkit.eval.dataset import Example

__all__ = ["ANSWER", "RETRIEVAL", "Outcome", "PipelineResult", "evaluate", "names",
           "question_input", "score"]

RETRIEVAL = ("hit", "recall", "mrr", "ndcg")
ANSWER = ("exact", "contains", "f1")
NAME_FIELDS = ("source", "path", "id")  # the names a retrieved source is matched by


@dataclass
class Outcome:
    """One question's run: what came back, how long it took, and its scores."""

    example: Example
    seconds: float
    retrieved: list[list[str]] | None = None  # per rank, the names of a retrieved source
    answer: str | None = None
    error: str | None = None
    verdict: str | None = None  # the judge's reply, when a judge scored the answer
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """A pipeline's outcomes over the set, with the statistics of its nodes."""

    name: str
    path: str
    k: int
    outcomes: list[Outcome]
    profile: Profile
    seconds: float

    def mean(self, metric: str) -> float | None:
        """The metric's mean over the questions it scores (None when it scores none)."""
        values = [o.scores[metric] for o in self.outcomes if metric in o.scores]
        return sum(values) / len(values) if values else None

    def latency(self, q: float) -> float:
        """The question latency at quantile `q` (0..1), in seconds."""
        ordered = sorted(o.seconds for o in self.outcomes)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    @property
    def errors(self) -> int:
        return sum(o.error is not None for o in self.outcomes)


def question_input(p: Pipeline) -> str:
    """The pipeline input each question goes to, its only one; an `InputError` when the
    pipeline takes none or several."""
    names = list(p.inputs)
    if len(names) == 1:
        return names[0]
    raise InputError(f"pipeline '{p.name}' takes inputs {', '.join(names) or '(none)'}: eval "
                     "needs a pipeline with one input, the question")


def evaluate(p: Pipeline, examples: Sequence[Example], *, path: str = "", k: int = 4,
             retrieved: str | None = "sources", answer: str | None = "answer",
             window: int = 1, cache: Any = None) -> PipelineResult:
    """Run `p` once per example and score the outputs named `retrieved` (a ranked list of
    sources) and `answer` (a string); None, or an output the pipeline lacks, skips them."""
    name = question_input(p)
    retrieved = retrieved if retrieved in p.output_map else None
    answer = answer if answer in p.output_map else None
    started: list[float] = []

    def inputs() -> Iterator[dict[str, str]]:
        for example in examples:
            started.append(time.perf_counter())
            yield {name: example.question}

    profile = Profile()
    options: dict[str, Any] = {"profile": profile, "window": window}
    if cache is not None:
        options["cache"] = cache
    outcomes: list[Outcome | None] = [None] * len(examples)
    begin = time.perf_counter()
    for index, result in p.iter_many(inputs(), ordered=False, on_error="return", **options):
        outcome = Outcome(examples[index], time.perf_counter() - started[index])
        _read(outcome, result, retrieved, answer)
        score(outcome, k, has_retrieved=retrieved is not None, has_answer=answer is not None)
        outcomes[index] = outcome
    return PipelineResult(p.name, path, k, [o for o in outcomes if o is not None], profile,
                          time.perf_counter() - begin)


def _read(outcome: Outcome, result: Any, retrieved: str | None, answer: str | None) -> None:
    if isinstance(result, NodeError):
        outcome.error = f"node '{result.node}': {type(result.cause).__name__}: {result.cause}"
        return
    if isinstance(result, LlmkitError):
        outcome.error = str(result)
        return
    if retrieved is not None:
        value = result[retrieved]
        if isinstance(value, (list, tuple)):
            outcome.retrieved = [names(item) for item in value]
        else:
            outcome.error = f"output '{retrieved}' is a {type(value).__name__}, not a list"
    if answer is not None:
        value = result[answer]
        outcome.answer = value if isinstance(value, str) else str(value)


def names(item: Any) -> list[str]:
    """The names one retrieved source is matched by: a string itself, a mapping's `source`,
    `path` and `id`."""
    if isinstance(item, Mapping):
        return [str(item[key]) for key in NAME_FIELDS if item.get(key) is not None]
    return [str(item)]


def score(outcome: Outcome, k: int, *, has_retrieved: bool, has_answer: bool) -> None:
    """Fill `outcome.scores` with every metric its example has gold labels for (a failed
    run scores 0)."""
    example = outcome.example
    if has_retrieved and example.sources:
        ranked = outcome.retrieved or []
        for metric, fn in zip(RETRIEVAL, (metrics.hit_at_k, metrics.recall_at_k, metrics.mrr,
                                          metrics.ndcg), strict=True):
            outcome.scores[metric] = fn(ranked, example.sources, k)
    if has_answer and example.answers:
        said = outcome.answer or ""
        for metric, fn in zip(ANSWER, (metrics.exact, metrics.contains, metrics.token_f1),
                              strict=True):
            outcome.scores[metric] = fn(said, example.answers)
