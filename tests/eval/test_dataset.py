"""Loading evaluation sets: good lines become examples; the first bad line is one error
that names FILE:LINE and the fix."""

import json

import pytest

from llmkit.errors import InputError
from llmkit.eval.dataset import Example, load_dataset


def write(tmp_path, *lines):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_lines_become_examples_with_defaults_and_labels_of_ones_own(tmp_path):
    path = write(tmp_path,
                 json.dumps({"id": "a", "question": "Q1?", "sources": ["x.md"],
                             "answers": ["yes"], "split": "holdout", "note": "mine"}),
                 "",
                 json.dumps({"question": "Q2?"}))
    first = Example("a", "Q1?", ("x.md",), ("yes",), "holdout")
    assert load_dataset(path) == [first, Example("3", "Q2?")]
    assert load_dataset(path, limit=1) == [first]
    assert load_dataset(path, split="holdout") == [first]
    with pytest.raises(InputError, match='no question has "split": "tune"'):
        load_dataset(path, split="tune")


@pytest.mark.parametrize(("line", "fragment"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, not list"),
    ('{"id": "x"}', "'question' must be a non-empty string"),
    ('{"question": "  "}', "'question' must be a non-empty string"),
    ('{"question": "Q?", "sources": "a.md"}', "'sources' must be a list of non-empty strings"),
    ('{"question": "Q?", "answers": [1]}', "'answers' must be a list of non-empty strings"),
    ('{"question": "Q?", "id": [1]}', "'id' must be a string or a number"),
    ('{"question": "Q?", "answer": ["x"]}', "unknown key 'answer' (did you mean 'answers'?)"),
    ('{"question": "Q?", "id": "q1"}', "id 'q1' is already used on line 1"),
    ('{"question": "Q?", "split": 2}', "'split' must be a string"),
])
def test_a_bad_line_is_one_error_at_file_and_line(tmp_path, line, fragment):
    path = write(tmp_path, '{"question": "first?", "id": "q1"}', line)
    with pytest.raises(InputError) as caught:
        load_dataset(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and fragment in message, message
    assert "\n" not in message


def test_an_empty_set_says_what_a_line_looks_like(tmp_path):
    with pytest.raises(InputError, match=r"no questions .*one JSON object per line"):
        load_dataset(write(tmp_path, "", "  "))


def test_text_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b'{"question": "caf\xe9?"}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:1: not UTF-8 text"):
        load_dataset(path)
