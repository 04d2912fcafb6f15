"""The located safe YAML parser: positions, and everything a pipeline file must not do."""

import pytest

from llmkit.errors import SpecError
from llmkit.spec.yaml import parse, plain_scalar


def test_positions_of_values_and_keys_are_one_based():
    doc = parse("a: 1\nnodes:\n  embed: {dim: 384}\n", "f.yaml")
    assert doc.data == {"a": 1, "nodes": {"embed": {"dim": 384}}}
    assert doc.where(("nodes", "embed", "dim")) == (3, 16)
    assert doc.where(("nodes", "embed", "dim"), key=True) == (3, 11)
    assert doc.where(("nodes", "embed"), key=True) == (3, 3)


def test_position_of_a_missing_path_falls_back_to_its_parent():
    doc = parse("nodes:\n  embed: {dim: 384}\n", "f.yaml")
    assert doc.where(("nodes", "embed", "nothing", "here")) == doc.where(("nodes", "embed"))
    assert doc.where(("absent",)) == (1, 1)


def test_duplicate_key_names_both_lines():
    with pytest.raises(SpecError, match=r"^f\.yaml:3:3: duplicate key 'a' \(lines 2 and 3\)"):
        parse("n:\n  a: 1\n  a: 2\n", "f.yaml")


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo hi']",
    "a: !!python/name:os.system",
    "a: !custom 3",
    "a: !!binary aGVsbG8=",
    "a: !!set {x: null}",
])
def test_tags_are_refused_because_a_file_never_runs_code(text):
    with pytest.raises(SpecError, match=r"^f\.yaml:1:4: tags are not allowed .*never runs code"):
        parse(text, "f.yaml")


def test_standard_scalar_tags_are_plain_data():
    assert parse("a: !!str 123\nb: !!int '4'\n", "f").data == {"a": "123", "b": 4}


def test_syntax_error_is_located():
    with pytest.raises(SpecError, match=r"^f\.yaml:2:1: invalid YAML: .*flow mapping"):
        parse("a: {b: 1\n", "f.yaml")


def test_recursive_alias_is_refused():
    with pytest.raises(SpecError, match="an alias refers to a value that contains it"):
        parse("a: &x [1, *x]\n", "f")


def test_alias_expansion_is_bounded():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]"
              for i in range(6)]
    with pytest.raises(SpecError, match="more than 100000 values"):
        parse("\n".join(lines), "f")


def test_merge_keys_merge_and_explicit_keys_win():
    doc = parse("base: &b {max_batch: 8, timeout: 3}\nn: {<<: *b, timeout: 5}\n", "f")
    assert doc.data["n"] == {"max_batch": 8, "timeout": 5}


def test_timestamps_and_equals_sign_stay_strings():
    assert parse("d: 2024-01-02\ne: =\n", "f").data == {"d": "2024-01-02", "e": "="}


def test_complex_keys_are_refused():
    with pytest.raises(SpecError, match="a mapping key must be a plain value"):
        parse("? [a, b]\n: 1\n", "f")


def test_invalid_utf8_and_control_characters_are_located():
    with pytest.raises(SpecError, match=r"^f:2:4: the file is not UTF-8"):
        parse(b"a: 1\nb: \xff\n", "f")
    with pytest.raises(SpecError, match=r"^f:1:4: invalid YAML: character U\+0000"):
        parse("a: \x00", "f")


def test_several_documents_are_refused():
    with pytest.raises(SpecError, match="expected a single document"):
        parse("a: 1\n---\nb: 2\n", "f")


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(SpecError, match="nested too deeply"):
        parse("[" * 800 + "]" * 800, "f")


@pytest.mark.parametrize(("text", "value"), [
    ("4", 4), ("1.5", 1.5), ("true", True), ("no", False), ("~", None), ("", None),
    ("abc", "abc"), ("2024-01-02", "2024-01-02"),
])
def test_plain_scalar_types_text_like_yaml_does(text, value):
    assert plain_scalar(text) == value
    assert type(plain_scalar(text)) is type(value)


@pytest.mark.parametrize(("text", "column", "problem"), [
    ("a: !!int abc", 4, "cannot be read as an integer (!!int)"),
    ("a: !!float abc", 4, "cannot be read as a number (!!float)"),
    ("a: !!float ''", 4, "cannot be read as a number (!!float)"),
    ("a: !!bool maybe", 4, "cannot be read as true or false (!!bool)"),
    ("a: !!int 0x", 4, "cannot be read as an integer (!!int)"),
    ("a: 0x_", 4, "cannot be read as an integer (!!int)"),
    ("a: [1, 0b_]", 8, "cannot be read as an integer (!!int)"),
    ("{0x_: 1}", 2, "cannot be read as an integer (!!int)"),
    ("a: " + "9" * 5000, 4, "is an integer of 5,000 digits, more than Python reads (4,300)"),
])
def test_a_scalar_its_type_cannot_hold_is_a_located_error(text, column, problem):
    with pytest.raises(SpecError) as caught:
        parse(text, "f.yaml")
    assert str(caught.value) == (f"f.yaml:1:{column}: this value {problem}; correct it, or "
                                 "quote it (with no tag) to keep it as text")
