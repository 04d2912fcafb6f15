"""A left-to-right layered layout of a `Diagram` (the Sugiyama scheme), in pure Python.

1. Columns: inputs first, each node one column past its furthest predecessor, outputs last.
2. An edge that spans columns passes through a waypoint in each column between, so it runs
   between the boxes there instead of through them.
3. Order in each column: sweeps that sort by the mean position of the neighbours in the
   column before (or after), keeping the order with the fewest crossings.
4. Heights: each box moves towards its neighbours' mean height, the column kept in order
   and apart by a least-squares fit (pool-adjacent-violators), sweeping both ways.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llmkit.draw.model import Box, Diagram, Edge
from llmkit.draw.style import SIZES, text_width

__all__ = ["PAD", "Layout", "Placed", "Route", "layout", "shown_type"]

PAD = 12             # inside a node box, left and right
_PAD_Y = 8
_TITLE_LINE, _LINE = 19, 15
_BAR = 10            # the time-share bar under the figures
_TERMINAL_H = 28     # an input's or output's pill
_MIN_NODE_W = 96
_ROW_GAP = 26        # between two boxes of a column
_WAY_GAP = 14        # between an edge passing by and anything else
_COL_GAP = 56
_PORT_STEP = 16      # between two edges meeting one side of a box
_MARGIN = 20
_HEADING = 30        # the diagram's title above the boxes
_CAPTION = 22        # the caption below them
_SWEEPS = 12


@dataclass(frozen=True)
class Placed:
    """A box and its rectangle (`x`, `y`: top left)."""

    box: Box
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Route:
    """An edge's path: points joined by curves that leave and arrive horizontally; `label`
    ends at `label_at` (on its baseline), left of the box it enters."""

    edge: Edge
    points: tuple[tuple[float, float], ...]
    label: str
    label_at: tuple[float, float]


@dataclass(frozen=True)
class Layout:
    """Where everything goes, in pixels."""

    diagram: Diagram
    width: float
    height: float
    boxes: tuple[Placed, ...]
    routes: tuple[Route, ...]


def layout(diagram: Diagram) -> Layout:
    """Place the boxes and route the edges of `diagram`."""
    boxes = {b.id: b for b in diagram.boxes}
    edges = [e for e in diagram.edges if e.source in boxes and e.target in boxes]
    rank = _ranks(boxes, edges)
    chains, layers, up, down = _layers(boxes, edges, rank)
    layers = _order(layers, up, down)
    size = {v: _size(boxes[v], edges) if v in boxes else (0.0, 0.0) for layer in layers
            for v in layer}
    y = _heights(layers, up, down, {v: s[1] for v, s in size.items()}, boxes)
    labels = {id(e): _label(e, boxes[e.source], boxes[e.target]) for e in edges}
    col_x, col_w = _columns(layers, size, edges, rank, labels)

    top = _MARGIN + _HEADING - min(y[v] - size[v][1] / 2 for layer in layers for v in layer)
    placed = {v: Placed(boxes[v], col_x[r] + (col_w[r] - size[v][0]) / 2,
                        y[v] - size[v][1] / 2 + top, *size[v])
              for r, layer in enumerate(layers) for v in layer if v in boxes}
    ways = {v: (col_x[r], col_x[r] + col_w[r], y[v] + top)
            for r, layer in enumerate(layers) for v in layer if v not in boxes}
    routes = _routes(edges, chains, placed, ways, labels)

    width = max([p.x + p.w for p in placed.values()], default=0) + _MARGIN
    width = max(width, 2 * _MARGIN + text_width(diagram.title, SIZES["heading"], bold=True),
                2 * _MARGIN + text_width(diagram.caption, SIZES["caption"]))
    height = max([p.y + p.h for p in placed.values()] + [y + _WAY_GAP for *_, y in ways.values()],
                 default=top) + _MARGIN
    height += _CAPTION if diagram.caption else 0
    return Layout(diagram, width, height, tuple(placed.values()), routes)


def shown_type(box: Box) -> str:
    """A node's type as its picture shows it: whole when short, else its class or function
    name (the whole is in the tooltip)."""
    return box.type if len(box.type) <= 32 else box.type.rpartition(":")[2]


def _ranks(boxes: Mapping[str, Box], edges: Sequence[Edge]) -> dict[str, int]:
    """Column of each box: inputs 0, a node one past its furthest predecessor, outputs last."""
    preds: dict[str, list[str]] = {v: [] for v in boxes}
    succs: dict[str, list[str]] = {v: [] for v in boxes}
    for e in edges:
        if e.source != e.target:
            preds[e.target].append(e.source)
            succs[e.source].append(e.target)
    waiting = {v: len(p) for v, p in preds.items()}
    ready = [v for v in boxes if not waiting[v]]
    order: list[str] = []
    while ready:
        v = ready.pop(0)
        order.append(v)
        for s in succs[v]:
            waiting[s] -= 1
            if not waiting[s]:
                ready.append(s)
    order += [v for v in boxes if v not in set(order)]  # a cycle: in the order given
    first = 1 if any(b.kind == "input" for b in boxes.values()) else 0
    rank: dict[str, int] = {}
    for v in order:
        rank[v] = 0 if boxes[v].kind == "input" else max(
            (rank[u] + 1 for u in preds[v] if u in rank), default=first)
    last = max([r for v, r in rank.items() if boxes[v].kind != "output"], default=-1) + 1
    for v, box in boxes.items():
        if box.kind == "output":
            rank[v] = max(rank[v], last)
    return rank


def _layers(boxes: Mapping[str, Box], edges: Sequence[Edge], rank: Mapping[str, int]
            ) -> tuple[list[list[str]], list[list[str]], dict[str, list[str]],
                       dict[str, list[str]]]:
    """Each edge's chain of boxes and waypoints, the columns, and the up/down neighbours."""
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for v in boxes:
        layers[rank[v]].append(v)
    up: dict[str, list[str]] = {v: [] for v in boxes}
    down: dict[str, list[str]] = {v: [] for v in boxes}
    chains = []
    for k, e in enumerate(edges):
        a, b = rank[e.source], rank[e.target]
        chain = [e.source, *(f"\0{k}:{r}" for r in range(a + 1, b)), e.target]
        chains.append(chain)
        if b <= a:
            continue  # an edge back (a loop): drawn, but not laid out
        for r, way in enumerate(chain[1:-1], a + 1):
            layers[r].append(way)
            up[way], down[way] = [], []
        for u, v in itertools.pairwise(chain):
            down[u].append(v)
            up[v].append(u)
    return chains, layers, up, down


def _order(layers: list[list[str]], up: Mapping[str, list[str]],
           down: Mapping[str, list[str]]) -> list[list[str]]:
    """Orders of the columns with few crossings: barycentre sweeps, the best one kept."""
    layers = [list(layer) for layer in layers]
    best, fewest = [list(layer) for layer in layers], _crossings(layers, down)
    for sweep in range(_SWEEPS):
        downwards = sweep % 2 == 0
        steps = range(1, len(layers)) if downwards else range(len(layers) - 2, -1, -1)
        for r in steps:
            near = layers[r - 1] if downwards else layers[r + 1]
            at = {v: i for i, v in enumerate(near)}
            own = {v: i for i, v in enumerate(layers[r])}
            neighbours = up if downwards else down

            def key(v: str, at: dict[str, int] = at, own: dict[str, int] = own,
                    neighbours: Mapping[str, list[str]] = neighbours) -> tuple[float, int]:
                seen = [at[u] for u in neighbours[v] if u in at]
                return (sum(seen) / len(seen) if seen else own[v], own[v])

            layers[r].sort(key=key)
        crossings = _crossings(layers, down)
        if crossings < fewest:
            best, fewest = [list(layer) for layer in layers], crossings
    return best


def _crossings(layers: Sequence[Sequence[str]], down: Mapping[str, list[str]]) -> int:
    """How many pairs of edges cross between neighbouring columns."""
    total = 0
    for left, right in itertools.pairwise(layers):
        at = {v: i for i, v in enumerate(right)}
        pairs = [(i, at[v]) for i, u in enumerate(left) for v in down[u] if v in at]
        total += sum(1 for n, (a, b) in enumerate(pairs) for c, d in pairs[n + 1:]
                     if (a - c) * (b - d) < 0)
    return total


def _size(box: Box, edges: Iterable[Edge]) -> tuple[float, float]:
    """A box's width and height: its text, and room for the edges on either side."""
    if box.kind != "node":
        return text_width(box.title, SIZES["title"]) + 32, _TERMINAL_H
    mark = text_width(box.mark, SIZES["subtitle"], bold=True) + 14 if box.mark else 0
    widths = [text_width(box.title, SIZES["title"], bold=True) + mark,
              text_width(shown_type(box), SIZES["subtitle"]),
              *(text_width(line, SIZES["figure"], mono=True) for line in box.lines)]
    height = 2 * _PAD_Y + _TITLE_LINE + (_LINE if box.type else 0)
    height += 6 + _LINE * len(box.lines) if box.lines else 0
    height += _BAR if box.heat is not None else 0
    edges = list(edges)
    ports = max(sum(e.target == box.id for e in edges), sum(e.source == box.id for e in edges))
    return max(_MIN_NODE_W, max(widths) + 2 * PAD), max(height, (ports + 1) * _PORT_STEP)


def _heights(layers: Sequence[Sequence[str]], up: Mapping[str, list[str]],
             down: Mapping[str, list[str]], h: Mapping[str, float],
             boxes: Mapping[str, Box]) -> dict[str, float]:
    """The centre height of every box and waypoint."""

    def apart(a: str, b: str) -> float:
        gap = _ROW_GAP if a in boxes and b in boxes else _WAY_GAP
        return (h[a] + h[b]) / 2 + gap

    y: dict[str, float] = {}
    for layer in layers:
        at = 0.0
        for i, v in enumerate(layer):
            at += apart(layer[i - 1], v) if i else 0.0
            y[v] = at
        for v in layer:
            y[v] -= at / 2
    for _ in range(_SWEEPS):
        for steps, neighbours in ((range(1, len(layers)), up),
                                  (range(len(layers) - 2, -1, -1), down)):
            for r in steps:
                layer = layers[r]
                wanted = [sum(y[u] for u in neighbours[v]) / len(neighbours[v])
                          if neighbours[v] else None for v in layer]
                gaps = [apart(a, b) for a, b in itertools.pairwise(layer)]
                if any(w is not None for w in wanted):
                    y.update(zip(layer, _fit(wanted, gaps), strict=True))
    return y


def _fit(wanted: Sequence[float | None], gaps: Sequence[float]) -> list[float]:
    """Heights nearest `wanted` (least squares) that keep each at least `gaps[i]` below the
    one before: isotonic regression by pool-adjacent-violators, on offset values. A box
    that wants nothing (no neighbours that way) packs against the nearest one that does."""
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    anchors = [i for i, w in enumerate(wanted) if w is not None]
    wanted = [w if w is not None else wanted[j] + offsets[i] - offsets[j]  # type: ignore[operator]
              for i, w in enumerate(wanted)
              for j in [min(anchors, key=lambda a, i=i: abs(a - i))]]
    blocks: list[list[float]] = []  # [sum, count]
    for value, offset in zip(wanted, offsets, strict=True):
        blocks.append([value - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    level = [total / count for total, count in blocks for _ in range(int(count))]
    return [z + offset for z, offset in zip(level, offsets, strict=True)]


def _label(edge: Edge, source: Box, target: Box) -> str:
    """The ports an edge's label names in a picture; a port named like the pipeline input or
    output box it leaves or enters is not repeated."""
    if target.kind == "output":
        return "" if edge.source_port == target.title else edge.source_port
    if source.kind == "input":
        return "" if edge.target_port == source.title else edge.target_port
    return edge.label


def _columns(layers: Sequence[Sequence[str]], size: Mapping[str, tuple[float, float]],
             edges: Sequence[Edge], rank: Mapping[str, int], labels: Mapping[int, str]
             ) -> tuple[list[float], list[float]]:
    """Left side and width of each column; the gap before a column fits the labels of the
    edges entering its boxes."""
    col_w = [max([size[v][0] for v in layer], default=0.0) for layer in layers]
    room = [0.0] * len(layers)
    for e in edges:
        room[rank[e.target]] = max(room[rank[e.target]],
                                   text_width(labels[id(e)], SIZES["label"]))
    col_x, x = [], float(_MARGIN)
    for r, width in enumerate(col_w):
        x += max(_COL_GAP, room[r] + 64) if r else 0.0
        col_x.append(x)
        x += width
    return col_x, col_w


def _routes(edges: Sequence[Edge], chains: Sequence[Sequence[str]],
            placed: Mapping[str, Placed], ways: Mapping[str, tuple[float, float, float]],
            labels: Mapping[int, str]) -> tuple[Route, ...]:
    """Each edge's points: out of its source's right side, straight across each column it
    passes, level under its label, into its target's left side; the edges on one side of a
    node box spread out in the order of where they come from or go to."""

    def centre(v: str) -> float:
        return ways[v][2] if v in ways else placed[v].y + placed[v].h / 2

    exits: dict[str, list[int]] = {}
    entries: dict[str, list[int]] = {}
    for k, chain in enumerate(chains):
        exits.setdefault(chain[0], []).append(k)
        entries.setdefault(chain[-1], []).append(k)

    def spread(v: str, ks: list[int], towards: int) -> dict[int, float]:
        box = placed[v]
        ks = sorted(ks, key=lambda k: centre(chains[k][towards]))
        step = 0.0 if box.box.kind != "node" else min(
            _PORT_STEP, (box.h - 12) / max(len(ks) - 1, 1))
        mid = box.y + box.h / 2
        return {k: mid + (i - (len(ks) - 1) / 2) * step for i, k in enumerate(ks)}

    out_y = {k: y for v, ks in exits.items() for k, y in spread(v, ks, 1).items()}
    in_y = {k: y for v, ks in entries.items() for k, y in spread(v, ks, -2).items()}
    routes = []
    for k, (e, chain) in enumerate(zip(edges, chains, strict=True)):
        source, target = placed[e.source], placed[e.target]
        points = [(source.x + source.w, out_y[k])]
        for way in chain[1:-1]:
            left, right, y = ways[way]
            points += [(left, y), (right, y)]
        label = labels[id(e)]
        lead = target.x - text_width(label, SIZES["label"]) - 20  # the label sits on a level
        if label and lead > points[-1][0] + 24:
            points.append((lead, in_y[k]))
        points.append((target.x, in_y[k]))
        routes.append(Route(e, tuple(points), label, (target.x - 8, in_y[k] - 4)))
    return tuple(routes)
