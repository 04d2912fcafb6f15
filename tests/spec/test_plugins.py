"""Plugins: installed packages' `llmkit.nodes` entry points (imported on the first look-up of
a name the library lacks, and by `llmkit nodes`), `--plugin MODULE`/`LLMKIT_PLUGINS` for a
module of one's own; a type nobody made visible gets an error that says how; `llmkit nodes`
names each plugin type's package and shows docstrings' first sentences whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmkit.cli import plugins
from llmkit.cli.render import node_types, summary
from llmkit.core.node import Node
from llmkit.core.registry import register
from llmkit.errors import PipelineError
from llmkit.spec import catalog

PLUGIN = textwrap.dedent('''
    import pathlib
    from llmkit.core.node import Node
    from llmkit.core.registry import register, register_resource

    pathlib.Path("imported.txt").write_text("yes")  # what the lazy loading test looks for

    @register("shout")
    class Shout(Node):
        """Upper-cases the text."""
        inputs = {"x": str}
        outputs = {"y": str}

        def run(self, x):
            return {"y": x.upper()}

    class Whisper(Node):
        inputs = {"x": str}
        outputs = {"y": str}

        def run(self, x):
            return {"y": x.lower()}

    @register_resource("plug_table")
    def table(rows=1):
        return [0] * rows

    def counter(start=0):
        return start
''')
ENTRY_POINTS = """\
[llmkit.nodes]
plug = plug
whisper = plug:Whisper
plug_counter = plug:counter
broken = no_such_module_zz:Thing
"""


def python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *(["-c", code] if code else [])], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(cwd), **env})


def llmkit(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "LLMKIT_PLUGINS"}
    # the installed script, not `python -m`, which would put the current folder on the path
    script = Path(sys.executable).with_name("llmkit")
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**clean, **env})


@pytest.fixture
def installed(tmp_path):
    """A folder holding the `plug` module and a dist-info declaring its entry points (what
    `pip install` leaves), for a subprocess that has it on its path."""
    (tmp_path / "plug.py").write_text(PLUGIN)
    info = tmp_path / "plug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return tmp_path


def test_plugins_are_imported_on_the_first_look_up_of_a_name_the_library_lacks(installed):
    code = ("import os; from llmkit.spec import catalog\n"
            "catalog.lookup('prompt'); print(os.path.exists('imported.txt'))\n"
            "print(catalog.lookup('shout').__name__, os.path.exists('imported.txt'))\n")
    assert python(code, installed).stdout.split() == ["False", "Shout", "True"]


def test_an_entry_point_names_a_module_a_node_class_or_a_resource_factory(installed):
    code = ("from llmkit.spec import catalog; import plug\n"
            "print(catalog.lookup('whisper') is plug.Whisper, catalog.lookup('shout') is "
            "plug.Shout, catalog.lookup_resource('plug_counter') is plug.counter, "
            "catalog.lookup_resource('plug_table') is plug.table)\n"
            "print(catalog.origin('shout'), catalog.origin('plug_table', resource=True), "
            "catalog.origin('prompt'), sep='|')\n")
    done = python(code, installed)
    assert done.stdout.splitlines() == ["True True True True", "plug 1.0|plug 1.0|llmkit"]


def test_a_broken_plugin_is_skipped_and_named(installed):
    code = ("from llmkit.spec import catalog\n"
            "try:\n    catalog.lookup('nothing_like_it')\n"
            "except Exception as exc:\n    print(exc)\n"
            "print(catalog.lookup('shout').__name__)\n")
    lines = python(code, installed).stdout.splitlines()
    assert "; plugin plug 1.0 (broken = no_such_module_zz:Thing): ModuleNotFoundError" in lines[0]
    assert lines[1] == "Shout"
    done = llmkit("nodes", cwd=installed, PYTHONPATH=str(installed))
    assert done.returncode == 0
    assert "\nshout  (plug:Shout, from plug 1.0)\n  Upper-cases the text.\n" in done.stdout
    assert done.stderr == ("llmkit: warning: plugin plug 1.0 (broken = no_such_module_zz:Thing):"
                           " ModuleNotFoundError: No module named 'no_such_module_zz'\n")


def test_a_pipeline_of_plugin_types_is_written_by_their_names_and_runs(installed):
    code = ("from llmkit import Pipeline, dump_pipeline, load_pipeline; import plug\n"
            "p = Pipeline(inputs=['x']).add('s', plug.Shout(), x='x').add('w', "
            "plug.Whisper(), x='s.y')\n"
            "text = dump_pipeline(p); print(text)\n"
            "print(load_pipeline(text).run(x='Ab'))\n")
    done = python(code, installed)
    assert "type: shout" in done.stdout and "type: whisper" in done.stdout, done.stderr
    assert done.stdout.splitlines()[-1] == "{'y': 'ab'}"


# -- a module of one's own: --plugin, LLMKIT_PLUGINS ------------------------------------------
PIPELINE = "llmkit: 1\ninputs: [x]\nnodes:\n  s: {type: shout, inputs: {x: x}}\n"


@pytest.fixture
def project(tmp_path):
    """A project folder with its own plugin module and a pipeline file using its type."""
    (tmp_path / "mine.py").write_text(PLUGIN.replace('"shout"', '"mine_shout"'))
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("shout", "mine_shout"))
    return tmp_path


def test_plugin_option_makes_a_local_modules_types_known(project):
    done = llmkit("run", "p.yaml", "--plugin", "mine", "-i", "x=hey", "--json", cwd=project)
    assert (done.returncode, done.stdout, done.stderr) == (0, '{"y": "HEY"}\n', "")
    listed = llmkit("nodes", "--plugin", "mine", cwd=project).stdout
    assert "\nmine_shout  (mine:Shout, from plugin mine)\n" in listed


def test_the_environment_variable_names_plugins_too(project):
    done = llmkit("validate", "p.yaml", cwd=project, LLMKIT_PLUGINS=" mine ,")
    assert (done.returncode, done.stdout) == (0, "ok: 1 node, inputs x, outputs y\n")


def test_without_the_plugin_the_error_says_how_to_make_a_type_visible(project):
    done = llmkit("validate", "p.yaml", cwd=project)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("llmkit: error: p.yaml:4:13: unknown node type 'mine_shout'")
    assert "; a type registered in your own code is visible " \
        "through an entry point in group 'llmkit.nodes' of an installed package, --plugin " \
        "MODULE (LLMKIT_PLUGINS), or as type: 'module:Class' with --allow-import" in done.stderr


def test_a_plugin_that_cannot_be_imported_is_one_error_line(project):
    done = llmkit("validate", "p.yaml", "--plugin", "not_here_zz", cwd=project)
    assert (done.returncode, done.stderr) == (
        2, "llmkit: error: cannot import plugin 'not_here_zz': ModuleNotFoundError: No module "
           "named 'not_here_zz'\n")


def test_plugins_given_on_the_command_line_reach_the_processes_it_starts(monkeypatch):
    monkeypatch.setenv(catalog.PLUGINS_ENV, "a")
    monkeypatch.setattr(catalog, "use_plugins", lambda modules: None)
    plugins.use(type("Args", (), {"plugin": ["b", "a"]})())
    assert os.environ[catalog.PLUGINS_ENV] == "a,b"


def test_an_unknown_type_in_python_says_how_to_make_it_visible():
    with pytest.raises(PipelineError, match=r"unknown node type 'nothing_like_zz'; a type "
                                            r"registered in your own code is visible through"):
        catalog.lookup("nothing_like_zz")
    with pytest.raises(PipelineError, match=r"unknown resource type 'nothing_like_zz'.*entry "
                                            r"point in group 'llmkit.nodes'"):
        catalog.lookup_resource("nothing_like_zz")


# -- llmkit nodes: docstrings ------------------------------------------------------------------
@pytest.mark.parametrize(("doc", "first"), [
    ("Top-k chunks by similarity: one product for the whole micro-batch,\nin the event loop"
     " when short, else in a thread.\n\nMore.", "Top-k chunks by similarity: one product for "
     "the whole micro-batch, in the event loop when short, else in a thread."),
    ("Scores a text, e.g. a review. Then more.", "Scores a text, e.g. a review."),
    ("A model (extra:\n`sentence-transformers`).\nDetails follow.",
     "A model (extra: `sentence-transformers`)."),
    ("No sentence end here\nbut a paragraph\n\nnext", "No sentence end here but a paragraph"),
    ("Is it? Yes.", "Is it?"),
    ("", ""),
])
def test_the_summary_is_the_first_sentence_whole(doc, first):
    assert summary(doc) == first


def test_llmkit_nodes_wraps_a_long_first_sentence_and_never_cuts_it():
    @register("test_long_doc_zz")
    class LongDoc(Node):
        """A node whose first sentence runs over several lines of its docstring, long past
        the width of a terminal, so that a listing that kept only the first line would cut it
        mid-sentence. Details follow."""

        def run(self):
            return {}

    listing = node_types()
    start = listing.index("test_long_doc_zz  (")
    lines = listing[start:].split("\n\n")[0].splitlines()[1:4]
    assert all(line.startswith("  ") and len(line) <= 90 for line in lines)
    assert " ".join(line.strip() for line in lines) == summary(LongDoc.__doc__)
    assert lines[-1].endswith("mid-sentence.")
