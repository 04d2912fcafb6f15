"""Hostile JSONL input lines through `llmkit run`: each bad line is that line's error record
(and a warning naming it), every other line still runs, and nothing ends in a traceback."""

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.cli import batch, main
from llmkit.cli.batch import encode
from llmkit.errors import NodeError
from tests.cli.conftest import PIPELINES, environment

GREET = PIPELINES / "greet.yaml"

NASTY = [  # (line, the record's greeting or error; None for a blank line)
    (b'{"name": "a"}', "Hello, a!!!"),
    (b"[" * 100_000 + b"]" * 100_000, "line 2: nested more than 100 levels deep"),
    (b'{"name": "\\ud800"}', "line 3: holds a lone surrogate (a \\udXXX escape without its "
                             "pair), which is not Unicode text"),
    (b'{"name": 1e999999}', "line 4: the number 1e999999 is out of range"),
    (b'{"name": ' + b"9" * 5000 + b"}", "line 5: an integer of 5,000 digits is too long (at "
                                        "most 4,300)"),
    (b'{"name": NaN}', "line 6: not valid JSON: NaN is not a JSON value"),
    (b'{"name": "\xff"}', "line 7: not UTF-8 text (byte 0xff at column 11)"),
    (b'{"name": "a\x00"}', "line 8: not valid JSON: Invalid control character at: line 1 "
                           "column 12 (char 11)"),
    (b'{"name": ' + b"[" * 150 + b"]" * 150 + b"}", "line 9: nested more than 100 levels "
                                                    "deep"),
    (b'{"name": "\\ud83d\\ude00"}', "Hello, \U0001f600!!!"),  # a surrogate pair is fine
    (b'{"nme": "x"}', "line 11: missing input 'name'; unknown input 'nme' (the pipeline "
                      "takes: name)"),
    (b"   ", None),
    (b'{"name": "z"}', "Hello, z!!!"),
]


def test_a_nasty_file_gives_one_record_per_line_and_the_good_lines_finish(tmp_path):
    (tmp_path / "nasty.jsonl").write_bytes(b"\n".join(line for line, _ in NASTY) + b"\n")
    proc = subprocess.run([sys.executable, "-m", "llmkit", "run", GREET, "--input-file",
                           "nasty.jsonl", "--no-cache"], cwd=tmp_path, env=environment(),
                          capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    expected = [outcome for _, outcome in NASTY if outcome is not None]
    got = {r["index"]: r for r in map(json.loads, proc.stdout.decode("utf-8").splitlines())}
    assert [got[i].get("greeting", got[i].get("error")) for i in range(len(got))] == expected
    warnings = [f"llmkit: warning: nasty.jsonl:{e.partition(': ')[0][5:]}: "
                f"{e.partition(': ')[2]}" for e in expected if e.startswith("line ")]
    assert err.splitlines() == [*warnings,
                                "llmkit: 9 runs failed (see the error records in the output)"]


def test_a_line_over_the_length_limit_is_its_error_record_and_the_next_line_runs(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 100)
    (tmp_path / "in.jsonl").write_text('{"name": "' + "x" * 1000 + '"}\n{"name": "b"}\n')
    code = main(["run", str(GREET), "--input-file", str(tmp_path / "in.jsonl"), "--output",
                 str(tmp_path / "out.jsonl"), "--no-cache"])
    assert code == 1
    records = sorted(map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines()),
                     key=lambda r: r["index"])
    assert records == [{"index": 0, "error": "line 1: longer than 100 bytes", "node": None},
                       {"index": 1, "greeting": "Hello, b!!!"}]
    assert "in.jsonl:1: longer than 100 bytes" in capsys.readouterr().err


def test_a_byte_order_mark_starting_the_file_is_not_part_of_its_first_line(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_bytes(b'\xef\xbb\xbf{"name": "a"}\n')
    code = main(["run", str(GREET), "--input-file", str(tmp_path / "in.jsonl"), "--no-cache"])
    assert (code, capsys.readouterr().out) == (0, '{"index": 0, "greeting": "Hello, a!!!"}\n')


class Unshowable:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(("result", "error"), [
    ({"x": float("nan")}, "outputs are not JSON-serialisable: ValueError: Out of range float "
                          "values are not JSON compliant"),
    ({"x": Unshowable()}, "outputs are not JSON-serialisable: RuntimeError: no"),
    (NodeError("n", ValueError("bad \ud800 text")), "ValueError: bad \ud800 text"),
])
def test_a_record_is_always_one_line_of_valid_utf8_json(result, error):
    line, ok = encode(3, result, {}, lambda text: text)
    assert not ok
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line.decode("utf-8"))["error"] == error


def test_a_lone_surrogate_a_node_outputs_is_written_as_its_json_escape():
    line, ok = encode(0, {"text": "a\ud800b"}, {}, lambda text: text)
    assert ok
    assert line == b'{"index": 0, "text": "a\\ud800b"}\n'


def test_unicode_line_separators_are_escaped_so_any_reader_sees_one_line():
    # found by the fuzz test: str.splitlines() breaks a record at U+0085, U+2028 and U+2029
    text = "a\x85b\u2028c\u2029d"
    line, ok = encode(0, {"text": text}, {}, lambda text: text)
    assert ok and len(line.decode("utf-8").splitlines()) == 1
    assert json.loads(line)["text"] == text


# -- fuzz: any bytes, one record per non-blank line, never a traceback ------------------------
LIMIT = 50_000  # MAX_LINE_BYTES during the fuzz, so that long lines are cheap to make
DEPTHS = st.integers(1, 120) | st.sampled_from([990, 1000, 1100, 3000, 20_000])
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8)
hostile_lines = st.one_of(
    json_values.map(lambda v: json.dumps({"name": v}, ensure_ascii=False).encode()),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3).map(
        lambda d: json.dumps(d).encode()),
    st.binary(max_size=80),
    DEPTHS.map(lambda n: b"[" * n + b"]" * n),
    DEPTHS.map(lambda n: b'{"name": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}"),
    st.integers(0xD800, 0xDFFF).map(lambda c: f'{{"name": "x\\u{c:04x}"}}'.encode()),
    st.sampled_from([b"1e999999", b"-1e400", b"NaN", b"Infinity", b"1" * 4301, b"0." + b"9" * 5000]
                    ).map(lambda n: b'{"name": ' + n + b"}"),
    st.integers(4290, 4400).map(lambda n: b'{"name": -' + b"7" * n + b"}"),
    st.sampled_from([LIMIT - 13, LIMIT - 12, LIMIT - 11, 3 * LIMIT]).map(
        lambda n: b'{"name": "' + b"x" * n + b'"}'),
    st.text(max_size=20).map(lambda t: ('{"name": "' + t + '"}').encode("utf-8",
                                                                        "surrogatepass")),
    st.sampled_from([b"", b" ", b"\x00", b"\r", b"\t\x0c", b"\xef\xbb\xbf{}", b"{}"]),
).map(lambda line: line.replace(b"\n", b" "))


@settings(max_examples=50, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(hostile_lines, min_size=1, max_size=8))
def test_fuzzed_lines_each_give_one_record_and_never_a_traceback(lines, tmp_path, capsys):
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(b"\n".join(lines))
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch, "MAX_LINE_BYTES", LIMIT)
        code = main(["run", str(GREET), "--input-file", str(source), "--output", str(output),
                     "--cache", "memory://"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    runs = sum(1 for line in lines if line.strip())
    assert code == (1 if any(e.startswith("llmkit: warning: ") for e in err.splitlines())
                    else 0), err
    records = [json.loads(line) for line in output.read_bytes().decode("utf-8").splitlines()]
    assert sorted(r["index"] for r in records) == list(range(runs))
    assert all(("greeting" in r) != ("error" in r) for r in records)
