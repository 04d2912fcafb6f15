"""A laid-out diagram as drawing primitives (rectangles, curves, text), in the order they are
painted; the SVG and PNG writers only translate these, so both show the same picture."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from llmkit.draw.layout import PAD, Placed, layout, shown_type
from llmkit.draw.model import Diagram
from llmkit.draw.style import COLORS, SIZES, heat_fill

__all__ = ["Curve", "Group", "Item", "Rect", "Scene", "Text", "pieces", "scene"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str = ""
    width: float = 0.0
    radius: float = 0.0
    tooltip: str = ""


@dataclass(frozen=True)
class Curve:
    """A path through `points`: straight where two points are level, else a curve that leaves
    and arrives horizontally; an arrowhead at the end."""

    points: tuple[tuple[float, float], ...]
    color: str
    width: float
    dashed: bool = False


@dataclass(frozen=True)
class Text:
    """`text` with its baseline at `y`; `anchor` "start", "middle" or "end" at `x`; `halo`: a
    background-coloured outline that keeps it legible over a line."""

    x: float
    y: float
    text: str
    size: float
    color: str
    bold: bool = False
    mono: bool = False
    anchor: str = "start"
    halo: bool = False


@dataclass(frozen=True)
class Group:
    """What paints one box, named by the box's id (an SVG `<g>`, for styling and tests)."""

    id: str
    items: tuple[Rect | Text, ...]


Item = Rect | Curve | Text | Group


def pieces(points: tuple[Point, ...]) -> list[tuple[Point, Point, Point, Point]]:
    """A curve's cubic Bézier pieces (start, control, control, end): a level piece going
    right is straight (its controls are its ends), any other leaves and arrives
    horizontally."""
    out = []
    for a, b in itertools.pairwise(points):
        if a[1] == b[1] and b[0] >= a[0]:
            out.append((a, a, b, b))
        else:
            reach = (b[0] - a[0]) / 2 if b[0] > a[0] else 40.0  # (an edge back: a loop)
            out.append((a, (a[0] + reach, a[1]), (b[0] - reach, b[1]), b))
    return out


@dataclass(frozen=True)
class Scene:
    title: str
    width: float
    height: float
    items: tuple[Item, ...]


def scene(diagram: Diagram) -> Scene:
    """Lay out `diagram` and list what to paint: background, title, edges, boxes, labels."""
    placed = layout(diagram)
    items: list[Item] = [Rect(0, 0, placed.width, placed.height, COLORS["background"]),
                         Text(20, 32, diagram.title, SIZES["heading"], COLORS["text"],
                              bold=True)]
    for route in placed.routes:
        items.append(Curve(route.points, COLORS["edge"], 1.4, route.edge.style == "dashed"))
    for box in placed.boxes:
        items.append(Group(box.box.id, tuple(
            _terminal(box) if box.box.kind != "node" else _node(box))))
    for route in placed.routes:
        if route.label:
            items.append(Text(*route.label_at, route.label, SIZES["label"], COLORS["muted"],
                              anchor="end", halo=True))
    if diagram.caption:
        items.append(Text(20, placed.height - 14, diagram.caption, SIZES["caption"],
                          COLORS["muted"]))
    return Scene(diagram.title, placed.width, placed.height, tuple(items))


def _terminal(p: Placed) -> list[Rect | Text]:
    """A pipeline input or output: a pill with its name."""
    return [Rect(p.x, p.y, p.w, p.h, COLORS["terminal_fill"], COLORS["terminal_stroke"], 1.2,
                 p.h / 2, tooltip=f"pipeline {p.box.kind} {p.box.title}"),
            Text(p.x + p.w / 2, p.y + p.h / 2 + 5, p.box.title, SIZES["title"],
                 COLORS["text"], anchor="middle")]


def _node(p: Placed) -> list[Rect | Text]:
    """A node: its name (and mark), its type, its figures, and a bar of its share of time."""
    box = p.box
    marked = bool(box.mark)
    fill = heat_fill(box.heat) if box.heat is not None else COLORS["node_fill"]
    items: list[Rect | Text] = [
        Rect(p.x, p.y, p.w, p.h, fill, COLORS["mark"] if marked else COLORS["node_stroke"],
             2.4 if marked else 1.2, 6,
             tooltip="\n".join([f"{box.title}: {box.type}" if box.type else box.title,
                                 *box.lines]))]
    y = p.y + 8 + 14
    items.append(Text(p.x + PAD, y, box.title, SIZES["title"], COLORS["text"], bold=True))
    if marked:
        items.append(Text(p.x + p.w - PAD, y - 1, box.mark, SIZES["subtitle"], COLORS["mark"],
                          bold=True, anchor="end"))
    if box.type:
        y += 15
        items.append(Text(p.x + PAD, y, shown_type(box), SIZES["subtitle"], COLORS["muted"]))
    if box.lines:
        items.append(Rect(p.x + PAD, y + 7, p.w - 2 * PAD, 0.8, COLORS["bar_track"]))
        y += 5
        for line in box.lines:
            y += 15
            items.append(Text(p.x + PAD, y, line, SIZES["figure"], COLORS["text"], mono=True))
    if box.heat is not None:
        track = p.w - 2 * PAD
        items.append(Rect(p.x + PAD, p.y + p.h - 12, track, 4, COLORS["bar_track"], radius=2))
        items.append(Rect(p.x + PAD, p.y + p.h - 12, max(track * box.heat, 0.5), 4,
                          COLORS["mark"] if marked else COLORS["bar"], radius=2))
    return items

