"""Port types are checked when a pipeline is validated: a wire whose source type does not fit
its target's is refused with both ends and their types named; `Any` and undeclared pass.

The property test wires random DAGs of typed ports and compares with a table written by
hand (`FITS`), not with the rule's own code."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.core.node import Node, node
from llmkit.core.pipeline import Pipeline
from llmkit.core.ports import fits, named, type_name
from llmkit.errors import PortTypeError

Hits = named("Hits", list[dict[str, Any]])

TYPES: dict[str, Any] = {
    "str": str, "int": int, "bool": bool, "float": float, "ndarray": np.ndarray,
    "list": list, "list[str]": list[str], "list[int]": list[int], "Hits": Hits,
    "dict": dict, "str | None": str | None, "None": None, "Any": Any,
    "int | None": Optional[int],  # noqa: UP045  (the typing module's spelling)
}

#: source → the targets it fits (besides Any, which everything fits and which fits all)
FITS = {
    "str": {"str", "str | None"},
    "int": {"int", "float", "int | None"},
    "bool": {"bool", "int", "float", "int | None"},
    "float": {"float"},
    "ndarray": {"ndarray"},
    "list": {"list", "list[str]", "list[int]", "Hits"},
    "list[str]": {"list", "list[str]"},
    "list[int]": {"list", "list[int]"},
    "Hits": {"list", "Hits"},
    "dict": {"dict"},
    "str | None": {"str | None"},
    "None": {"None", "str | None", "int | None"},
    "int | None": {"int | None"},
}


def expected(source: str, target: str) -> bool:
    return "Any" in (source, target) or target in FITS[source]


@pytest.mark.parametrize("source", TYPES)
@pytest.mark.parametrize("target", TYPES)
def test_the_rule_matches_the_table(source, target):
    assert fits(TYPES[source], TYPES[target]) is expected(source, target)


class Typed(Node):
    """A node whose ports are given: `inputs`/`outputs` map port names to type names."""

    def __init__(self, inputs: dict[str, str], outputs: dict[str, str]) -> None:
        self.inputs = {p: TYPES[t] for p, t in inputs.items()}
        self.outputs = {p: TYPES[t] for p, t in outputs.items()}

    def run(self, **inputs: Any) -> dict[str, Any]:
        return dict.fromkeys(self.outputs)


type_names = st.sampled_from(list(TYPES))


@st.composite
def wirings(draw):
    """A random DAG: each node's output `o` has a type; each of its inputs reads the pipeline
    input `x` or an earlier node's output, and has a type of its own."""
    x_type = draw(type_names)
    nodes, wires = [], []
    for i in range(draw(st.integers(1, 8))):
        reads = draw(st.lists(st.integers(-1, i - 1), min_size=1, max_size=3))
        inputs = {f"i{k}": draw(type_names) for k in range(len(reads))}
        nodes.append((inputs, draw(type_names)))
        for k, r in enumerate(reads):
            source, source_type = ("x", x_type) if r < 0 else (f"n{r}.o", nodes[r][1])
            wires.append((source, source_type, f"n{i}.i{k}", inputs[f"i{k}"]))
    return x_type, nodes, wires


@settings(max_examples=300, deadline=None)
@given(wirings())
def test_compatible_wirings_build_and_incompatible_ones_name_both_ends(case):
    x_type, nodes, wires = case
    p = Pipeline(inputs={"x": TYPES[x_type]})
    for i, (inputs, output) in enumerate(nodes):
        p.add(f"n{i}", Typed(inputs, {"o": output}))
    for source, _, target, _ in wires:
        p.connect(source, target)
    bad = {(t, f"{s} ({st_}) → {t} ({tt})") for s, st_, t, tt in wires if not expected(st_, tt)}
    if not bad:
        assert p.validate().nodes
        return
    with pytest.raises(PortTypeError) as info:
        p.validate()
    at = f"{info.value.node}.{info.value.port}"
    assert any(t == at and named_ends in str(info.value) for t, named_ends in bad), \
        (str(info.value), bad)


def test_the_issue_example_names_both_ends_and_types():
    @node(outputs="vector")
    def embed(text: str) -> np.ndarray:
        return np.zeros(3)

    @node(outputs="answer")
    def generate(question: str) -> str:
        return question

    p = (Pipeline(inputs={"q": str}).add("embed", embed, text="q")
         .add("generate", generate, question="embed.vector"))
    with pytest.raises(PortTypeError, match=r"embed\.vector \(ndarray\) → generate\.question "
                                            r"\(str\)") as info:
        p.validate()
    assert (info.value.node, info.value.port) == ("generate", "question")


def test_a_pipeline_input_type_is_checked_too():
    @node(outputs="n")
    def count(items: list) -> int:
        return len(items)

    p = Pipeline(inputs={"q": str}).add("count", count, items="q")
    with pytest.raises(PortTypeError, match=r"q \(str\) → count\.items \(list\)"):
        p.validate()
    assert Pipeline(inputs=["q"]).add("count", count, items="q").validate()  # untyped input


def test_node_function_ports_come_from_annotations():
    @node(outputs="n")
    def one(text: str, k: int = 3, anything=None) -> int:
        return k

    @node(outputs=("a", "b"))
    def two(x: float) -> dict:
        return {"a": x, "b": x}

    @node(outputs="v", batch=True)
    def many(texts: list[str]) -> list[np.ndarray]:
        return [np.zeros(1) for _ in texts]

    assert one.inputs == {"text": str, "k": int, "anything": Any} and one.outputs == {"n": int}
    assert two.outputs == {"a": Any, "b": Any}  # a dict of outputs: no type per port
    assert many.inputs == {"texts": str} and many.outputs == {"v": np.ndarray}


def test_an_annotation_that_does_not_resolve_is_any():
    from typing import TYPE_CHECKING

    if TYPE_CHECKING:
        from decimal import Decimal

    @node(outputs="y")
    def f(x: Decimal, n: int) -> str:  # Decimal is imported only for type checkers
        return str(x)

    assert f.inputs == {"x": Any, "n": int} and f.outputs == {"y": str}


@pytest.mark.parametrize(("tp", "shown"), [
    (str, "str"), (np.ndarray, "ndarray"), (list[str], "list[str]"), (int | None, "int | None"),
    (Optional[int], "int | None"),  # noqa: UP045  (the typing module's spelling)
    (dict[str, list[int]], "dict[str, list[int]]"), (Any, "Any"), (Hits, "Hits"),
])
def test_types_are_written_as_a_reader_writes_them(tp, shown):
    assert type_name(tp) == shown
