"""`Pipeline.draw` and `Profile.draw`: SVG that parses and names every node, a valid PNG,
boxes that never overlap, the run's figures on each node, and files replaced whole."""

from __future__ import annotations

import io
import itertools
import os
import random
import time

import pytest

from llmkit import Pipeline, Profile, node
from llmkit.draw import Box, Diagram, Edge, render
from llmkit.draw.layout import layout
from tests.draw.conftest import box_texts, python_pipeline, texts
from tests.extras import require

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_rag_yaml_as_svg_names_every_node_input_and_output(rag):
    shown = texts(rag.draw())
    for name in [*rag.nodes, *rag.inputs, *rag.output_map]:
        assert name in shown, name
    assert "build_context" in shown  # a node's type under its name


def test_a_python_pipeline_of_node_functions_as_svg():
    p = python_pipeline()
    shown = texts(p.draw(format="svg"))
    assert {"clean", "split", "shout", "text", "loud", "count"} <= set(shown)
    assert "tests.draw.conftest:split" in shown


def test_a_notebook_shows_a_pipeline_as_svg_and_an_invalid_one_as_text():
    assert texts(python_pipeline()._repr_svg_())
    broken = Pipeline("broken", inputs=["text"]).add("shout", node(lambda words: words))
    assert broken._repr_svg_() is None


def test_png_is_a_valid_image(tmp_path):
    pil = require("PIL.Image", "draw")
    path = tmp_path / "functions.png"
    data = python_pipeline().draw(path)
    assert isinstance(data, bytes) and data.startswith(PNG_SIGNATURE)
    assert path.read_bytes() == data
    with pil.open(io.BytesIO(data)) as image:
        image.verify()
    with pil.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 200 and image.height > 50


def test_html_holds_the_svg_inline():
    page = python_pipeline().draw(format="html")
    assert page.startswith("<!DOCTYPE html>")
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert "shout" in texts(svg)


@pytest.mark.parametrize("size", [4, 8, 12])
def test_boxes_never_overlap_and_stay_on_the_canvas(size):
    diagram = random_diagram(size, random.Random(size))
    placed = layout(diagram)
    for a, b in itertools.combinations(placed.boxes, 2):
        apart = (a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y)
        assert apart, (a.box.id, b.box.id)
    for p in placed.boxes:
        assert p.x >= 0 and p.x + p.w <= placed.width
        assert p.y >= 0 and p.y + p.h <= placed.height
    for route in placed.routes:  # every edge goes left to right, out of and into its boxes
        assert [x for x, _ in route.points] == sorted(x for x, _ in route.points)


def random_diagram(size: int, rng: random.Random) -> Diagram:
    """A random DAG of `size` nodes, two inputs and two outputs."""
    names = [f"node_{i}" for i in range(size)]
    boxes = [Box("input:a", "a", "input"), Box("input:b", "b", "input")]
    boxes += [Box(f"node:{n}", n, "node", "some.module:Type") for n in names]
    boxes += [Box("output:x", "x", "output"), Box("output:y", "y", "output")]
    edges = [Edge(f"input:{rng.choice('ab')}", "node:node_0", "a", "text")]
    for i in range(1, size):
        for j in rng.sample(range(i), min(i, rng.choice([1, 1, 2]))):
            edges.append(Edge(f"node:{names[j]}", f"node:{names[i]}", "out", f"in{j}"))
    edges.append(Edge("input:b", f"node:{names[size // 2]}", "b", "extra"))
    edges += [Edge(f"node:{names[-1]}", "output:x", "out"),
              Edge(f"node:{names[size // 3]}", "output:y", "out")]
    return Diagram("random", tuple(boxes), tuple(edges))


def test_a_run_drawn_shows_each_nodes_figures_and_marks_the_bottleneck():
    p = python_pipeline().add("nap", nap, text="shout.output")  # the slowest node by far
    profile = Profile()
    p.run_many([{"text": f" hello world {i} "} for i in range(5)], profile=profile)
    svg = profile.draw(p)
    boxes = box_texts(svg)
    wall = profile.wall_seconds
    for name, stats in profile.nodes.items():
        shown = [t for t in boxes[f"node:{name}"] if t != "bottleneck"]
        assert shown == [
            name, f"tests.draw.test_pictures:{name}" if name == "nap" else
            f"tests.draw.conftest:{name}",
            f"{stats.calls} call{'s' if stats.calls != 1 else ''} · batch {stats.mean_batch:.1f}",
            "no cache", shown[4], f"{stats.busy_seconds / wall:.0%} of wall time"]
        assert shown[4].startswith("p50 ") and " · p95 " in shown[4]
    assert boxes["node:nap"][1] == "bottleneck"
    assert texts(svg).count("bottleneck") == 1
    assert "wall time each node was busy" in texts(svg)[-1]
    nap_stats = profile.nodes["nap"]  # 5 naps of 10 ms, in up to 4 threads at once
    assert 0.01 <= nap_stats.busy_seconds <= min(nap_stats.seconds, wall)


@node(inline=False)
def nap(text: str) -> str:
    time.sleep(0.01)
    return text


def test_cache_hit_rate_and_call_times_as_drawn():
    class Stats:
        calls, items, errors, cache_hits, cache_misses, seconds = 1, 4, 0, 3, 1, 0.5
        busy_seconds, mean_batch = 0.5, 4.0

        def percentile(self, q: float) -> float:
            return 0.25 if q == 0.5 else 0.5

    boxes = box_texts(Profile(nodes={"clean": Stats()}).draw(python_pipeline()))
    assert boxes["node:clean"][4:] == ["cache hits 75%", "p50 250 ms · p95 500 ms",
                                       "100% of call time"]
    assert boxes["node:split"][2:] == ["not run"]


def test_text_formats_draw_a_python_pipeline():
    p = python_pipeline()
    assert 'node_split -->|"count"| node_shout' in p.draw(format="mermaid")
    assert '"node:clean" -> "node:split" [label="output"];' in p.draw(format="dot")


def test_an_existing_file_is_replaced_whole_at_the_path_named(tmp_path):
    target = tmp_path / "pictures" / "p.svg"
    target.parent.mkdir()
    target.write_text("old picture")
    os.chmod(target, 0o640)
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    neighbour = tmp_path / "pictures" / "other.svg"
    neighbour.write_text("keep")
    python_pipeline().draw(link)
    assert link.is_symlink() and texts(target.read_text())  # written through the link
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert neighbour.read_text() == "keep"
    assert sorted(os.listdir(target.parent)) == ["other.svg", "p.svg"]  # no temporary left


def test_a_failed_picture_leaves_the_old_file_as_it_was(tmp_path, no_pillow):
    target = tmp_path / "p.png"
    target.write_bytes(b"old")
    with pytest.raises(ImportError, match=r"pip install 'llmkit\[draw\]'"):
        python_pipeline().draw(target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["p.png"]


def test_an_unknown_format_names_the_choices():
    with pytest.raises(ValueError, match="svg, png, html, mermaid, dot"):
        render(Diagram("d", (), ()), "jpeg")
    with pytest.raises(ValueError, match=r"cannot tell the picture format from \.txt"):
        python_pipeline().draw("p.txt")


def test_text_is_escaped_so_the_svg_stays_xml():
    diagram = Diagram('a "<graph>" & more', (Box("node:x", "x", "node", "mod:T<int> & 'b'"),
                                              Box("output:y", "y", "output")),
                      (Edge("node:x", "output:y", "out<1>"),))
    shown = texts(render(diagram, "svg"))
    assert {'a "<graph>" & more', "mod:T<int> & 'b'", "out<1>"} <= set(shown)
