"""What a picture shows, as plain data: boxes, the edges between them and a caption. The
renderers read nothing else, so they know neither pipelines nor profiles."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Box", "Diagram", "Edge"]


@dataclass(frozen=True)
class Box:
    """One box: a pipeline input or output (`kind`), or a node with its `type` name,
    optional figures (`lines`), a fill by its share of the time (`heat`, 0..1) and a `mark`
    (the bottleneck)."""

    id: str
    title: str
    kind: str = "node"  # "input" | "node" | "output"
    type: str = ""
    lines: tuple[str, ...] = ()
    heat: float | None = None
    mark: str = ""


@dataclass(frozen=True)
class Edge:
    """A wire from one box's port to another's (a pipeline input or output box has none:
    "" ); `style` "solid" or "dashed" (for a conditional edge)."""

    source: str
    target: str
    source_port: str = ""
    target_port: str = ""
    style: str = "solid"

    @property
    def label(self) -> str:
        """Both ports when they differ (`text → context`), else the one port."""
        if not self.target_port or self.source_port == self.target_port:
            return self.source_port
        return f"{self.source_port} → {self.target_port}" if self.source_port \
            else self.target_port


@dataclass(frozen=True)
class Diagram:
    """A titled graph of boxes; `caption` is a line under it (what the figures mean)."""

    title: str
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    caption: str = ""
