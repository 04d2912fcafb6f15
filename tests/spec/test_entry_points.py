"""Installed packages add node and resource types through entry points."""

import os
import subprocess
import sys
import textwrap


def test_entry_point_node_and_resource_types_are_registered(tmp_path):
    (tmp_path / "plug.py").write_text(textwrap.dedent("""
        from llmkit.core.node import Node

        class Shout(Node):
            inputs = {"x": str}
            outputs = {"y": str}

            def run(self, x):
                return {"y": x.upper()}

        def table(rows=1):
            return [0] * rows
    """))
    info = tmp_path / "plug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[llmkit.nodes]\nshout = plug:Shout\n\n[llmkit.resources]\nplug_table = plug:table\n")
    code = ("import plug; from llmkit.spec import catalog; "
            "print(catalog.lookup('shout') is plug.Shout, "
            "catalog.lookup_resource('plug_table') is plug.table)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert out.stdout.split() == ["True", "True"]
