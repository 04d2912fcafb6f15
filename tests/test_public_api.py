"""The public API is explicit: `llmkit.__all__` is sorted, complete and importable."""

import subprocess
import sys

import llmkit


def test_all_is_sorted_and_every_name_resolves():
    assert llmkit.__all__ == sorted(llmkit.__all__) == sorted(llmkit._EXPORTS)
    for name in llmkit.__all__:
        assert getattr(llmkit, name) is not None


def test_importing_llmkit_loads_no_engine_module():
    code = ("import sys, llmkit; print(sorted(m for m in sys.modules"
            " if m.startswith(('numpy', 'anyio', 'networkx', 'llmkit.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_node_is_the_decorator_even_after_the_engine_is_imported():
    code = ("import llmkit.core.node, llmkit.core.pipeline, llmkit.rag; "
            "from llmkit import Pipeline, node; "
            "print(callable(node) and not isinstance(node, type(llmkit)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_unknown_attribute_is_an_attribute_error():
    try:
        llmkit.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
