"""A pipeline's parts as a `Diagram`, from plain mappings (the engine passes its own), so
this layer never imports the engine: one box per input, node and output, one edge per
wire, with ids `input:x`, `node:x`, `output:x`. A route's edges (its branches, and the
`when:` guards that read them) are dashed and labelled with the branch."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from llmkit.draw.figures import Stats, annotate
from llmkit.draw.model import Box, Diagram, Edge

__all__ = ["pipeline_diagram"]


def pipeline_diagram(name: str, inputs: Iterable[str], types: Mapping[str, str],
                     wiring: Mapping[str, Mapping[str, str]], outputs: Mapping[str, str],
                     stats: Mapping[str, Stats] | None = None, wall: float = 0.0, *,
                     routes: Collection[str] = (),
                     guards: Mapping[str, Sequence[str]] | None = None) -> Diagram:
    """The diagram of a pipeline: `types` (node name → type name), `wiring` (node name →
    port → source, "input" or "node.port"), `outputs` (name → source); with `stats` (node
    name → its run statistics; `wall`, the run's wall time), each node carries its figures;
    `routes`, the nodes whose edges are conditional; `guards` (node name → "route.branch"s
    it runs on) are edges too."""
    boxes = [Box(f"input:{i}", i, "input") for i in inputs]
    boxes += [Box(f"node:{n}", n, "node", t) for n, t in types.items()]
    boxes += [Box(f"output:{o}", o, "output") for o in outputs]

    def source(ref: str) -> tuple[str, str]:
        node, dot, port = ref.partition(".")
        return (f"node:{node}", port) if dot else (f"input:{ref}", ref)

    def edge(ref: str, target: str, port: str = "") -> Edge:
        box, box_port = source(ref)
        conditional = ref.partition(".")[0] in routes and "." in ref
        return Edge(box, target, box_port, port, "dashed" if conditional else "solid")

    edges = [edge(ref, f"node:{n}", port) for n, ports in wiring.items()
             for port, ref in ports.items()]
    edges += [edge(ref, f"node:{n}") for n, refs in (guards or {}).items() for ref in refs]
    edges += [edge(ref, f"output:{o}") for o, ref in outputs.items()]
    diagram = Diagram(name, tuple(boxes), tuple(edges))
    return annotate(diagram, stats, wall) if stats is not None else diagram
