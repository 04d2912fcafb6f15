"""LLM-judge scoring: a chat model reads the question, the gold answers and a pipeline's
answer and says YES or NO. Its verdicts are an opinion, not a string match, so the report
labels them as judge-scored and names the model.

The judge is itself a one-node pipeline (`generate` with the judge's prompt), so its calls
run on the shared scheduler with the node's concurrency, retries and the optional cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.core.registry import RESOURCE_TYPES
from llmkit.errors import LlmkitError, NodeError
from llmkit.eval.runner import Outcome
from llmkit.nodes.generation.nodes import Generate
from llmkit.spec.catalog import load_plugins, lookup_resource

__all__ = ["SYSTEM", "Judge", "open_judge", "verdict"]

SYSTEM = ("You grade answers to questions about documentation. Reply with one word: YES when "
          "the candidate answer states the reference fact (in any wording), NO when it does "
          "not, is wrong, or says it cannot answer.")
TEMPLATE = "Question: {question}\n\n{context}\n\nDoes the candidate answer state it? YES or NO."
_VERDICT = re.compile(r"\W*(yes|no)\b", re.IGNORECASE)


def verdict(reply: str) -> float | None:
    """1 for a reply that starts with YES, 0 for NO, None for anything else."""
    found = _VERDICT.match(reply)
    return None if found is None else float(found.group(1).lower() == "yes")


def open_judge(spec: str, model: str | None = None) -> Any:
    """The chat model `--judge` names: an OpenAI-compatible base URL (http://.../v1), or a
    chat resource type (`openai_chat`, `ollama_chat`) configured from its environment."""
    url = spec.startswith(("http://", "https://"))
    load_plugins()  # a plugin may bring its own chat type
    chats = sorted(name for name in RESOURCE_TYPES if name.endswith("_chat"))
    if not url and spec not in chats:
        raise LlmkitError(f"--judge {spec!r}: expected a server's base URL (http://HOST/v1) or "
                          f"a chat resource type: {', '.join(chats)}")
    model = model or os.environ.get("LLMKIT_MODEL")
    if not model:
        raise LlmkitError(f"--judge {spec}: which model? Give --judge-model NAME or set "
                          "LLMKIT_MODEL")
    if url:
        return lookup_resource("openai_chat")(base_url=spec, model=model)
    return lookup_resource(spec)(model=model)


class Judge:
    """Scores answers with `llm`, filling `scores["judge"]` and `verdict` on outcomes."""

    def __init__(self, llm: Any, label: str) -> None:
        self.llm, self.label = llm, label
        self.pipeline = Pipeline("judge", inputs=["question", "context"]).add(
            "judge", Generate(llm, system_prompt=SYSTEM, template=TEMPLATE),
            question="question", context="context").outputs(verdict="judge.answer")

    def score(self, outcomes: Sequence[Outcome], cache: Any = None) -> None:
        """Ask for a verdict on every answered question that has gold answers."""
        todo = [o for o in outcomes if o.example.answers and o.answer is not None]
        asks = [{"question": o.example.question, "context": _context(o)} for o in todo]
        options: dict[str, Any] = {"on_error": "return"}
        if cache is not None:
            options["cache"] = cache
        for outcome, result in zip(todo, self.pipeline.run_many(asks, **options), strict=True):
            if isinstance(result, NodeError):
                outcome.verdict = f"judge failed: {type(result.cause).__name__}: {result.cause}"
                continue
            if isinstance(result, LlmkitError):
                outcome.verdict = f"judge failed: {result}"
                continue
            outcome.verdict = result["verdict"]
            score = verdict(result["verdict"])
            if score is not None:
                outcome.scores["judge"] = score


def _context(outcome: Outcome) -> str:
    golds = "\n".join(f"- {gold}" for gold in outcome.example.answers)
    return f"Reference answer:\n{golds}\n\nCandidate answer:\n{outcome.answer}"
