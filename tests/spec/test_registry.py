"""Resource types sit next to node types in the catalog; import paths need permission."""

import pytest

from llmkit.core import registry
from llmkit.errors import PipelineError
from llmkit.spec import catalog
from llmkit.spec.resources import ResourceSpec, remember, resource, spec_of
from tests.fixtures.nodes import Table


def test_register_resource_is_one_line_and_listed():
    registry.register_resource("test_table")(Table)
    assert catalog.lookup_resource("test_table") is Table
    assert "test_table" in catalog.available_resources()


def test_unknown_resource_type_suggests():
    registry.register_resource("test_table")(Table)
    with pytest.raises(PipelineError, match=r"unknown resource type 'test_tabel' \(did you "
                                            r"mean 'test_table'\?\)"):
        catalog.lookup_resource("test_tabel")


def test_import_paths_are_refused_unless_allowed():
    with pytest.raises(PipelineError, match="--allow-import"):
        catalog.lookup_resource("tests.fixtures.nodes:Table")
    assert catalog.lookup_resource("tests.fixtures.nodes:Table", allow_import=True) is Table


@pytest.mark.parametrize("path", ["no_such_module_zz:X", "tests.fixtures.nodes:Nope",
                                  ":", "\x00:x", "tests..x:Y"])
def test_any_failing_import_is_a_pipeline_error(path):
    with pytest.raises(PipelineError, match="cannot import"):
        catalog.lookup(path, allow_import=True)


def test_objects_built_as_resources_know_their_spec_while_alive():
    table = resource("tests.fixtures.nodes:Table", allow_import=True, rows={"a": 1})
    assert spec_of(table) == ResourceSpec("Table", "tests.fixtures.nodes:Table", {"rows": {"a": 1}})
    assert spec_of(Table()) is None
    remember(5, ResourceSpec("five", "int"))  # plain data is never taken for a resource
    assert spec_of(5) is None
