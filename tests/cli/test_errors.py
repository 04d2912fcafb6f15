"""Bad input: each problem is one `llmkit: error:` line naming file:line:column and the key,
with exit code 2 and no traceback."""

import pytest

from tests.cli.conftest import PIPELINES, assert_one_line_error

GOOD = (PIPELINES / "greet.yaml").read_text()


@pytest.mark.parametrize(("old", "new", "fragments"), [
    pytest.param("inputs: {name: str}", "inputs: {name: str", (
        "bad.yaml:6:6: invalid YAML: expected ',' or '}', but got ':'",), id="yaml-syntax"),
    pytest.param("outputs:", "ouputs:", (
        "bad.yaml:9:1: top level: unknown key 'ouputs' (did you mean 'outputs'?)",),
        id="unknown-top-level-key"),
    pytest.param("inputs: {name: name}}", "inputs: {name: name}, max_batc: 4}", (
        "bad.yaml:7:85: nodes.hello: unknown key 'max_batc' (did you mean 'max_batch'?)",),
        id="unknown-node-key"),
    pytest.param("hello: {type: prompt", "hello: {type: promt", (
        "bad.yaml:7:17: unknown node type 'promt' (did you mean 'prompt'?)",),
        id="unknown-node-type"),
    pytest.param("inputs: {name: name}", "inputs: {nme: name}", (
        "bad.yaml:7:72: node 'hello' has no input port 'nme' (did you mean 'name'?)",),
        id="unknown-port"),
    pytest.param("inputs: {name: name}", "inputs: {name: shout.text}", (
        "bad.yaml:7:72: the pipeline has a cycle: hello -> shout -> hello",), id="cycle"),
    pytest.param("{text: hello.text}", "{text: hello.txt}", (
        "bad.yaml:8:66:", "input 'shout.text' reads 'hello.txt', but node 'hello' has no "
        "output 'txt' (did you mean 'text'?)"), id="missing-output"),
    pytest.param("Hello, {name}!", "Hello, {name}! ${GREETING}", (
        "bad.yaml:7:44: nodes.hello.params.template: environment variable 'GREETING' is "
        "not set",), id="unset-env-var"),
    pytest.param('"Hello, {name}!"', "!!python/object/apply:os.system ['echo hacked']", (
        "bad.yaml:7:44: tags are not allowed (found '!!python/object/apply:os.system'): a "
        "pipeline file never runs code",), id="python-tag"),
    pytest.param("name: greet\n", "name: greet\nname: again\n", (
        "bad.yaml:4:1: duplicate key 'name' (lines 3 and 4)",), id="duplicate-key"),
    pytest.param("llmkit: 1\n", "", (
        "bad.yaml:2:1: missing the format version: start the file with 'llmkit: 1'",),
        id="missing-version"),
    pytest.param("type: prompt, params: {template: \"{text}!!\"}",
                 "type: 'tests.fixtures.nodes:Slow'", (
                     "bad.yaml:8:17: node type 'tests.fixtures.nodes:Slow' is a Python "
                     "import path", "pass --allow-import"), id="import-not-allowed"),
    pytest.param("name: greet\n", "name: !!int abc\n", (
        "bad.yaml:3:7: this value cannot be read as an integer (!!int)",), id="bad-int-tag"),
])
def test_invalid_pipeline_is_one_located_line_and_exit_2(llmkit, tmp_path, old, new, fragments):
    assert old in GOOD
    (tmp_path / "bad.yaml").write_text(GOOD.replace(old, new, 1))
    assert_one_line_error(llmkit("validate", "bad.yaml"), *fragments)


def test_missing_run_input_is_named(llmkit):
    assert_one_line_error(llmkit("run", PIPELINES / "greet.yaml", "--no-cache"),
                          "missing input 'name': pass -i name=VALUE")


def test_unknown_run_input_suggests(llmkit):
    assert_one_line_error(llmkit("run", PIPELINES / "greet.yaml", "-i", "nam=x", "--no-cache"),
                          "unknown input 'nam' (did you mean 'name'?)")


def test_missing_pipeline_file(llmkit):
    assert_one_line_error(llmkit("validate", "nope.yaml"),
                          "nope.yaml: No such file or directory")


def test_bad_usage_is_exit_2(llmkit):
    result = llmkit("run")
    assert result.code == 2
    assert "usage: llmkit run" in result.err


def test_a_variable_whose_value_is_no_number_is_one_located_line(llmkit, tmp_path):
    (tmp_path / "bad.yaml").write_text(GOOD.replace("inputs: {name: name}}",
                                                    "inputs: {name: name}, max_batch: '${N}'}"))
    assert_one_line_error(llmkit("validate", "bad.yaml", env={"N": "9" * 5000}),
                          "bad.yaml:7:96: nodes.hello.max_batch: the value of ${N} is an "
                          "integer of 5,000 digits")


def test_an_endless_pipeline_file_is_refused_by_size(llmkit):
    assert_one_line_error(llmkit("validate", "/dev/zero"),
                          "/dev/zero: the file is larger than 1 MiB, the limit for a pipeline "
                          "file")


IMPORTED = GOOD.replace("type: prompt, params: {template: \"{text}!!\"}",
                        "type: 'stops:Node'")


def test_a_module_that_calls_sys_exit_at_import_is_a_located_error(llmkit, tmp_path):
    (tmp_path / "stops.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "p.yaml").write_text(IMPORTED)
    assert_one_line_error(llmkit("validate", "p.yaml", "--allow-import"),
                          "p.yaml:8:17: cannot import node type 'stops:Node': importing it "
                          "called sys.exit(3)")


def test_ctrl_c_while_a_module_is_imported_still_exits_130(llmkit, tmp_path):
    (tmp_path / "stops.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "p.yaml").write_text(IMPORTED)
    result = llmkit("validate", "p.yaml", "--allow-import")
    assert (result.code, result.err) == (130, "llmkit: interrupted\n")
