"""Node types for the round-trip tests, at the top level of a module so that a pipeline file
can name them: a registered class only this code registers, `@node` functions, and a plain
function made a node by `node(...)` where it is used."""

from __future__ import annotations

from llmkit.core.node import Node, node
from llmkit.core.registry import register


@register("roundtrip_suffix")
class Suffix(Node):
    """Appends `suffix` to the text."""

    inputs = {"text": str}
    outputs = {"text": str}

    def __init__(self, suffix: str = "!", times: int = 1) -> None:
        self.suffix, self.times = suffix, times

    def run(self, text):
        return {"text": text + self.suffix * self.times}


@node(outputs="text")
def upper(text):
    """The text in capitals."""
    return text.upper()


@node(outputs=("text", "reversed"), max_batch=7, version="2")
def both(text):
    """The text, and the text reversed."""
    return {"text": text, "reversed": text[::-1]}


@node(outputs="text", batch=True)
def stripped(text):
    """Each text of a micro-batch without surrounding spaces."""
    return [t.strip() for t in text]


def exclaim(text, mark="!"):
    """A plain function: `node(exclaim, outputs="text")` makes it a node."""
    return text + mark
