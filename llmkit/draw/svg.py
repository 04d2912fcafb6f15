"""A scene as SVG (standalone, or inline in an HTML page or a notebook)."""

from __future__ import annotations

import zlib
from xml.sax.saxutils import escape, quoteattr

from llmkit.draw.scene import Curve, Group, Item, Rect, Scene, pieces
from llmkit.draw.style import COLORS

__all__ = ["html", "svg"]

SANS = "Inter, 'Segoe UI', 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif"
MONO = "ui-monospace, 'SF Mono', Menlo, Consolas, 'DejaVu Sans Mono', monospace"


def svg(s: Scene) -> str:
    """The SVG document; its arrowhead's id is unique to the picture, so two pictures in one
    page (a notebook) keep their own."""
    body = "\n".join(_item(item) for item in s.items)
    arrow = f"llmkit-arrow-{zlib.crc32(body.encode()):08x}"
    w, h = f"{s.width:.0f}", f"{s.height:.0f}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family={quoteattr(SANS)} role="img" '
        f"aria-label={quoteattr(s.title)}>\n"
        f"<title>{escape(s.title)}</title>\n"
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{COLORS["edge"]}"/></marker></defs>\n'
        f"{body.replace('url(#arrow)', f'url(#{arrow})')}\n</svg>\n")


def html(s: Scene) -> str:
    """A page holding the SVG inline (its tooltips work), for a browser."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(s.title)}</title>\n"
            "<style>body{margin:24px;background:#f8fafc}svg{max-width:100%;height:auto;"
            "background:#fff;box-shadow:0 1px 3px #0002}</style>\n"
            f"</head>\n<body>\n{svg(s)}</body>\n</html>\n")


def _item(item: Item) -> str:
    if isinstance(item, Group):
        inner = "".join(_item(part) for part in item.items)
        return f"<g class=\"box\" data-box={quoteattr(item.id)}>{inner}</g>"
    if isinstance(item, Rect):
        stroke = (f' stroke="{item.stroke}" stroke-width="{item.width:g}"'
                  if item.stroke else "")
        rx = f' rx="{item.radius:g}"' if item.radius else ""
        rect = (f'<rect x="{item.x:.1f}" y="{item.y:.1f}" width="{item.w:.1f}" '
                f'height="{item.h:.1f}"{rx} fill="{item.fill}"{stroke}')
        return f"{rect}><title>{escape(item.tooltip)}</title></rect>" if item.tooltip \
            else f"{rect}/>"
    if isinstance(item, Curve):
        (x, y), *_ = item.points
        d = [f"M{x:.1f},{y:.1f}"]
        for _, c1, c2, end in pieces(item.points):
            d.append(f"L{end[0]:.1f},{end[1]:.1f}" if c2 == end else
                     f"C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} "
                     f"{end[0]:.1f},{end[1]:.1f}")
        dash = ' stroke-dasharray="5 4"' if item.dashed else ""
        return (f'<path d="{" ".join(d)}" fill="none" stroke="{item.color}" '
                f'stroke-width="{item.width:g}"{dash} marker-end="url(#arrow)"/>')
    style = ' font-weight="bold"' if item.bold else ""
    style += f" font-family={quoteattr(MONO)}" if item.mono else ""
    style += f' text-anchor="{item.anchor}"' if item.anchor != "start" else ""
    start = f'<text x="{item.x:.1f}" y="{item.y:.1f}" font-size="{item.size:g}"{style}'
    end = f' xml:space="preserve">{escape(item.text)}</text>'
    text = f'{start} fill="{item.color}"{end}'
    if not item.halo:
        return text
    background = COLORS["background"]
    return (f'{start} fill="{background}" stroke="{background}" stroke-width="4" '
            f'stroke-linejoin="round"{end}{text}')
