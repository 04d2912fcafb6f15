"""A bar chart of the quality metrics, pipelines side by side, as a small SVG written by
hand: no plotting library to install, and the same bytes for the same figures."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from llmkit.eval.report import columns, summary
from llmkit.eval.runner import ANSWER, RETRIEVAL, PipelineResult

__all__ = ["svg"]

COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
BAR, GAP, LEFT, TOP, HEIGHT = 16, 20, 48, 20, 200  # pixels


def svg(results: Sequence[PipelineResult]) -> str:
    """The metrics (all in 0..1) some pipeline has, one group of bars each."""
    rows = [summary(r) for r in results]
    titles = columns(results[0].k)
    metrics = [m for m in (*RETRIEVAL, *ANSWER, "judge") if any(row[m] is not None
                                                                 for row in rows)]
    group = BAR * len(results) + GAP
    width = LEFT + group * max(1, len(metrics)) + GAP
    legend = TOP + HEIGHT + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{legend + 18 * len(results)}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{legend + 18 * len(results)}" fill="white"/>']
    for tenth in range(0, 11, 2):
        y = TOP + HEIGHT * (1 - tenth / 10)
        out.append(f'<line x1="{LEFT}" y1="{y:g}" x2="{width - GAP}" y2="{y:g}" '
                   f'stroke="#ddd"/><text x="{LEFT - 6}" y="{y + 4:g}" '
                   f'text-anchor="end">{tenth / 10:.1f}</text>')
    for g, metric in enumerate(metrics):
        x0 = LEFT + GAP + g * group
        for i, row in enumerate(rows):
            value = row[metric] or 0.0
            out.append(f'<rect x="{x0 + i * BAR}" y="{TOP + HEIGHT * (1 - value):.1f}" '
                       f'width="{BAR - 2}" height="{HEIGHT * value:.1f}" '
                       f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(results[i].name)} '
                       f'{escape(titles[metric])}: {value:.3f}</title></rect>')
        out.append(f'<text x="{x0 + BAR * len(rows) / 2:g}" y="{TOP + HEIGHT + 16}" '
                   f'text-anchor="middle">{escape(titles[metric])}</text>')
    for i, result in enumerate(results):
        y = legend + 18 * i
        out.append(f'<rect x="{LEFT}" y="{y - 10}" width="12" height="12" '
                   f'fill="{COLOURS[i % len(COLOURS)]}"/><text x="{LEFT + 18}" y="{y}">'
                   f'{escape(result.name)}</text>')
    out.append("</svg>\n")
    return "\n".join(out)
