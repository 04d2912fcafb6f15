"""A scripted pipeline for eval tests: it retrieves and answers what a table says, and
fails on the question "boom?"."""

from pathlib import Path

from llmkit.core.node import Node
from llmkit.core.pipeline import Pipeline

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SCRIPT = {  # question -> (ranked sources, answer)
    "Where is caching?": (["docs/intro.md", {"source": "docs/cache.md", "id": "c#1"}],
                          "Results are cached per node."),
    "What bounds memory?": (["docs/cli.md"], "The window does."),
}


class Scripted(Node):
    inputs = {"question": str}
    outputs = {"sources": list, "answer": str}

    def run(self, question):
        if question == "boom?":
            raise ValueError("no answer for boom")
        sources, answer = SCRIPT.get(question, ([], "could not find it"))
        return {"sources": sources, "answer": answer}


def scripted(name="scripted"):
    p = Pipeline(name, inputs=["question"]).add("answer", Scripted(), question="question")
    return p.outputs(sources="answer.sources", answer="answer.answer")
