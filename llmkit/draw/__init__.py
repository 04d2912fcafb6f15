"""Pictures of graphs, offline and in pure Python: a layered left-to-right layout of plain
data (boxes, edges, figures) written as SVG, HTML, PNG (with Pillow, the `draw` extra),
Mermaid or Graphviz dot. It sits low in the layers and knows no pipeline: the engine's
`Pipeline.draw` and `Profile.draw` hand it their parts (docs/observability.md)."""

from __future__ import annotations

import os

from llmkit.draw.figures import Stats, annotate
from llmkit.draw.files import FORMATS, format_of, write
from llmkit.draw.model import Box, Diagram, Edge
from llmkit.draw.parts import pipeline_diagram

__all__ = ["FORMATS", "Box", "Diagram", "Edge", "Stats", "annotate", "format_of",
           "pipeline_diagram", "render", "save"]


def render(diagram: Diagram, format: str = "svg") -> str | bytes:
    """`diagram` in `format`: text for svg, html, mermaid and dot; bytes for png."""
    from llmkit.draw import png, scene, svg, text

    chosen = format_of(None, format)
    if chosen == "mermaid":
        return text.mermaid(diagram)
    if chosen == "dot":
        return text.dot(diagram)
    if chosen == "png":
        png.pillow()  # a missing extra is named before any layout work
        return png.png(scene.scene(diagram))
    painted = scene.scene(diagram)
    return svg.html(painted) if chosen == "html" else svg.svg(painted)


def save(diagram: Diagram, path: str | os.PathLike[str] | None = None,
         format: str | None = None) -> str | bytes:
    """Render `diagram` (format named, or by `path`'s suffix, else svg) and, with a `path`,
    write it there at once; returns what was rendered."""
    picture = render(diagram, format_of(path, format))
    if path is not None:
        write(path, picture.encode() if isinstance(picture, str) else picture)
    return picture
