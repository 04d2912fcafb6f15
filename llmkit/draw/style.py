"""Sizes, colours and text widths that the layout and every renderer share, so an SVG and a
PNG of one diagram look alike. Text widths are estimates (no font is read): generous
enough that a label fits in any common sans-serif face."""

from __future__ import annotations

__all__ = ["COLORS", "SIZES", "heat_fill", "text_width"]

SIZES = {
    "title": 14,      # a node's name, bold
    "subtitle": 11,   # its type
    "figure": 11,     # run figures, monospace
    "label": 11,      # an edge's port names
    "heading": 15,    # the diagram's title
    "caption": 11,
}

COLORS = {
    "background": "#ffffff",
    "text": "#0f172a",
    "muted": "#64748b",
    "node_fill": "#ffffff",
    "node_stroke": "#334155",
    "terminal_fill": "#eef2ff",
    "terminal_stroke": "#6366f1",
    "edge": "#64748b",
    "bar_track": "#e2e8f0",
    "bar": "#ea580c",
    "hot": "#fb923c",
    "mark": "#dc2626",
}

_NARROW = set("fijlrtI1.,:;'!|()[]{} ")
_WIDE = set("mwMW@%")


def text_width(text: str, size: float, *, mono: bool = False, bold: bool = False) -> float:
    """The width of `text` at `size` pixels, estimated per character class."""
    if mono:
        return 0.61 * size * len(text)
    em = sum(0.32 if c in _NARROW else 0.88 if c in _WIDE else 0.68 if c.isupper() else 0.57
             for c in text)
    return em * size * (1.08 if bold else 1.0)


def heat_fill(heat: float) -> str:
    """White shading to orange as `heat` (a share of the time, 0..1) grows."""
    share = min(max(heat, 0.0), 1.0) * 0.9
    low, high = COLORS["node_fill"], COLORS["hot"]
    mixed = (round(int(low[i:i + 2], 16) * (1 - share) + int(high[i:i + 2], 16) * share)
             for i in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in mixed)
