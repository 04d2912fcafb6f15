"""A scene as a PNG, drawn with Pillow (the `draw` extra): painted at four times the size
and scaled down to twice it, for smooth lines on high-density screens. Text is in Pillow's
own scalable font, so no system font is needed."""

from __future__ import annotations

import io
import itertools
import math
from functools import cache
from typing import Any

from llmkit.draw.scene import Curve, Group, Rect, Scene, Text, pieces
from llmkit.draw.style import COLORS
from llmkit.errors import MissingExtraError

__all__ = ["pillow", "png"]

_SCALE, _SUPER = 2, 2  # output pixels per layout pixel; painted this many times larger again
_MISSING = {"→": "->"}  # glyphs Pillow's font lacks


def pillow() -> Any:
    """The `PIL` package, or a `MissingExtraError` naming the extra."""
    try:
        import PIL.Image
        import PIL.ImageDraw
        import PIL.ImageFont
    except ImportError as exc:
        raise MissingExtraError("PNG pictures need Pillow: pip install 'llmkit[draw]' "
                                "(or draw SVG or HTML, which need nothing)") from exc
    return PIL


def png(s: Scene) -> bytes:
    """The PNG file's bytes."""
    pil = pillow()
    k = _SCALE * _SUPER
    image = pil.Image.new("RGB", (math.ceil(s.width * k), math.ceil(s.height * k)),
                          COLORS["background"])
    draw = pil.ImageDraw.Draw(image)
    flat = [part for each in s.items
            for part in (each.items if isinstance(each, Group) else (each,))]
    for item in flat:
        if isinstance(item, Rect):
            box = [item.x * k, item.y * k, (item.x + item.w) * k, (item.y + item.h) * k]
            draw.rounded_rectangle(box, radius=item.radius * k, fill=item.fill,
                                   outline=item.stroke or None,
                                   width=round(item.width * k) if item.stroke else 0)
        elif isinstance(item, Curve):
            _curve(draw, item, k)
        else:
            _text(draw, item, k)
    image = image.resize((math.ceil(s.width * _SCALE), math.ceil(s.height * _SCALE)),
                         pil.Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _curve(draw: Any, c: Curve, k: float) -> None:
    """The curve as short straight steps, dashed if asked, with an arrowhead at its end."""
    points = [c.points[0]]
    for a, c1, c2, b in pieces(c.points):
        steps = 1 if c2 == b else 24
        for i in range(1, steps + 1):
            t = i / steps
            points.append(tuple(  # type: ignore[arg-type]
                (1 - t) ** 3 * a[j] + 3 * (1 - t) ** 2 * t * c1[j] + 3 * (1 - t) * t * t * c2[j]
                + t ** 3 * b[j] for j in (0, 1)))
    scaled = [(x * k, y * k) for x, y in points]
    width = round(c.width * k)
    for run in (_dashes(scaled, 5 * k, 4 * k) if c.dashed else [scaled]):
        draw.line(run, fill=c.color, width=width, joint="curve")
    x, y = scaled[-1]
    draw.polygon([(x, y), (x - 8 * k, y - 4 * k), (x - 8 * k, y + 4 * k)], fill=c.color)


def _dashes(points: list[tuple[float, float]], on: float, off: float
            ) -> list[list[tuple[float, float]]]:
    """The pieces of a polyline that a dash pattern (`on`, `off` lengths) paints."""
    runs: list[list[tuple[float, float]]] = [[points[0]]]
    walked, painting = 0.0, True
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length = math.hypot(x1 - x0, y1 - y0)
        done = 0.0
        while done < length:
            step = min((on if painting else off) - walked, length - done)
            done += step
            walked += step
            point = (x0 + (x1 - x0) * done / max(length, 1e-9),
                     y0 + (y1 - y0) * done / max(length, 1e-9))
            if painting:
                runs[-1].append(point)
            if walked >= (on if painting else off):
                walked, painting = 0.0, not painting
                if painting:
                    runs.append([point])
    return [run for run in runs if len(run) > 1]


@cache
def _font(size: float) -> Any:
    return pillow().ImageFont.load_default(size)


def _text(draw: Any, t: Text, k: float) -> None:
    text = "".join(_MISSING.get(ch, ch) for ch in t.text)
    anchor = {"start": "ls", "middle": "ms", "end": "rs"}[t.anchor]
    stroke, stroke_fill = 0, t.color
    if t.halo:
        stroke, stroke_fill = round(3 * k), COLORS["background"]
    elif t.bold:
        stroke = max(1, round(0.35 * k))
    draw.text((t.x * k, t.y * k), text, fill=t.color, font=_font(round(t.size * k)),
              anchor=anchor, stroke_width=stroke, stroke_fill=stroke_fill)
