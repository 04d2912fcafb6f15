"""Importing code from a pipeline file is off by default, for resource types as for nodes."""

import sys

import pytest

from llmkit.errors import PipelineError
from llmkit.spec import load_pipeline

PROBE = "tests.spec.import_probe"
# The node type is registered: only the resource's import path needs permission.
PIPELINE = """\
llmkit: 1
inputs: [query]
resources:
  client: {type: "tests.spec.import_probe:Probe"}
nodes:
  web: {type: web_search, params: {client: $client}, inputs: {query: query}}
"""


def test_a_resource_type_that_is_an_import_path_is_refused_without_allow_import():
    sys.modules.pop(PROBE, None)
    with pytest.raises(PipelineError, match=r"^<string>:4:\d+: resource type "
                                        r"'tests.spec.import_probe:Probe' is a Python import "
                                        r"path.*--allow-import") as info:
        load_pipeline(PIPELINE)
    assert "\n" not in str(info.value)
    assert PROBE not in sys.modules  # refused before any of its code ran


def test_a_resource_type_that_is_an_import_path_loads_with_allow_import():
    p = load_pipeline(PIPELINE, allow_import=True)
    assert type(p.nodes["web"].client).__name__ == "Probe"
    assert PROBE in sys.modules
