"""Validation orders nodes and finds cycles without networkx, exactly as networkx did."""

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.core.node import node
from llmkit.core.pipeline import Pipeline
from llmkit.errors import CycleError


@node(outputs="s")
def add(a, b):
    return a + b


# Each node reads two sources: the pipeline input or any node, itself and later ones included.
wirings = st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.permutations(range(n)),
    st.lists(st.tuples(st.integers(-1, n - 1), st.integers(-1, n - 1)), min_size=n,
             max_size=n)))


def _pipeline(names, sources) -> Pipeline:
    p = Pipeline(inputs=["x"])
    for name in names:
        p.add(f"n{name}", add)
    for name, (a, b) in zip(names, sources, strict=True):
        for port, src in (("a", a), ("b", b)):
            p.connect("x" if src < 0 else f"n{src}.s", f"n{name}.{port}")
    return p


@settings(max_examples=300, deadline=None)
@given(wirings)
def test_order_and_cycle_match_networkx(wiring):
    p = _pipeline(*wiring)
    g = p.graph
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        position = {name: i for i, name in enumerate(p.nodes)}
        expected = list(nx.lexicographical_topological_sort(g, key=position.__getitem__))
        plan = p.validate()
        assert [n.name for n in plan.nodes] == expected
        for n in plan.nodes:
            assert n.n_upstream == g.in_degree(n.name)
            assert [plan.nodes[i].name for i in n.successors] == sorted(
                g.successors(n.name), key=expected.index)
    else:
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        last, first = cycle[-1]
        with pytest.raises(CycleError) as caught:
            p.validate()
        assert str(caught.value).endswith(f"the pipeline has a cycle: {path}")
        at_fault = (first, g.edges[last, first]["ports"][0][1])
        assert (caught.value.node, caught.value.port) == at_fault
