"""Loading pipeline files: interpolation, resources, settings, types, and located errors."""

import os
import re
import threading
from pathlib import Path

import pytest

from llmkit.core.node import Retry
from llmkit.core.registry import register_resource
from llmkit.errors import (
    CycleError,
    PipelineError,
    SpecError,
    UnknownNodeError,
    UnknownPortError,
    UnwiredInputError,
)
from llmkit.spec import MAX_FILE_BYTES, dump_pipeline, load_pipeline, scrub_secrets
from tests.fixtures.nodes import Lookup, Table

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pipelines"

ONE_NODE = """\
llmkit: 1
inputs: [q]
nodes:
  a: {type: prompt, params: {template: "{q}"}, inputs: {q: q}%s}
"""


def node_a(extra: str = "", env: dict | None = None):
    return load_pipeline(ONE_NODE % extra, env=env or {}).nodes["a"]


def test_fixture_loads_and_runs():
    p = load_pipeline(FIXTURES / "full.yaml", allow_import=True)
    assert list(p.nodes) == ["lookup", "answer"]
    assert p.inputs == {"key": str, "question": str}
    assert p.wiring["answer"] == {"question": "question", "country": "lookup.value"}
    result = p.run(key="rome", question="Where?")
    assert result == {"answer": "Question: Where?\nCountry: Italy\nPrice: $5\n",
                      "country": "Italy"}


def test_text_or_path_is_told_apart():
    assert load_pipeline((FIXTURES / "greet.yaml").read_text()).name == "greet"
    assert load_pipeline(str(FIXTURES / "greet.yaml")).name == "greet"
    assert load_pipeline((FIXTURES / "greet.yaml").read_bytes()).name == "greet"
    with pytest.raises(FileNotFoundError):
        load_pipeline("missing.yaml")


# -- interpolation ---------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "env", "text"), [
    ("${WHO}", {"WHO": "Ann"}, "Ann"),
    ("hi ${WHO:-you}!", {}, "hi you!"),
    ("hi ${WHO:-you}!", {"WHO": ""}, "hi you!"),
    ("${WHO}!", {"WHO": "4"}, "4!"),
    ("cost: $$5 and $$${X:-9}", {}, "cost: $5 and $9"),
    ("a lone $ stays", {}, "a lone $ stays"),
])
def test_interpolation(template, env, text):
    p = load_pipeline(ONE_NODE % "" + f"description: '{template}'\n", env=env)
    assert p.description == text


def test_one_reference_takes_the_type_of_its_text():
    a = node_a(", max_batch: '${BATCH:-64}', inline: '${INLINE:-false}'")
    assert a.settings.max_batch == 64
    assert a.settings.inline is False


def test_unset_variable_without_default_is_named_with_its_line():
    with pytest.raises(SpecError, match=r"^<string>:4:\d+: nodes\.a\.timeout: environment "
                                        r"variable 'NOPE' is not set"):
        node_a(", timeout: '${NOPE}'")


def test_bad_reference_syntax_is_an_error():
    with pytest.raises(SpecError, match=r"bad reference"):
        node_a(", timeout: '${1X}'")
    with pytest.raises(SpecError, match=r"bad reference"):
        node_a(", timeout: 'x ${OPEN'")



@pytest.mark.parametrize(("value", "problem"), [
    ("0x_", "cannot be read as an integer (!!int)"),
    ("9" * 5000, "is an integer of 5,000 digits, more than Python reads (4,300)"),
])
def test_a_variable_whose_value_its_type_cannot_hold_is_a_located_error(value, problem):
    with pytest.raises(SpecError) as caught:
        node_a(", max_batch: '${N}'", env={"N": value})
    assert re.fullmatch(rf"<string>:4:\d+: nodes\.a\.max_batch: the value of \$\{{N\}} "
                        rf"{re.escape(problem)}", str(caught.value))


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    big.write_text("llmkit: 1\n" + "#" * MAX_FILE_BYTES)
    monkeypatch.setattr("llmkit.spec.load.parse", lambda *_: pytest.fail("parsed"))
    with pytest.raises(SpecError, match=rf"^{re.escape(str(big))}: the file is larger than 1 "
                                        "MiB, the limit for a pipeline file"):
        load_pipeline(big)


def test_a_pipe_is_read_only_up_to_the_limit_not_to_its_end(tmp_path):
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo)
    release, closed = threading.Event(), threading.Event()

    def write() -> None:  # more than the limit, then hold the pipe open for a while
        with open(fifo, "wb") as pipe:
            pipe.write(b"#" * (MAX_FILE_BYTES + 2))
            release.wait(5)
        closed.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(SpecError, match=r"the file is larger than 1 MiB"):
            load_pipeline(fifo)
        assert not closed.is_set()  # refused without waiting for the end of the stream
    finally:
        release.set()
        writer.join()


SECRET = """\
llmkit: 1
inputs: [x]
resources:
  table: {type: "tests.fixtures.nodes:Table", api_key: "${TABLE_API_KEY}", rows: %s}
nodes:
  look: {type: "tests.fixtures.nodes:Lookup", params: {table: $table}, inputs: {key: x}}
"""


def test_secret_from_environment_stays_a_string_and_never_shows_in_errors():
    p = load_pipeline(SECRET % "{}", allow_import=True, env={"TABLE_API_KEY": "12345678"})
    assert p.nodes["look"].table.api_key == "12345678"  # a secret is never typed as a number
    assert scrub_secrets(p, "key=12345678") == "key=***"
    with pytest.raises(SpecError) as caught:  # Table(rows=...) fails with the key in scope
        load_pipeline(SECRET % "[12345678]", allow_import=True,
                      env={"TABLE_API_KEY": "12345678"})
    assert "12345678" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.parametrize("env", [{"MY_TOKEN": "tok-abcdef"}, {}], ids=["set", "unset"])
def test_secret_named_variable_outside_a_secret_key_is_refused_without_its_value(env):
    with pytest.raises(SpecError) as caught:  # a template would print and cache it in clear
        load_pipeline(ONE_NODE.replace('"{q}"', '"key=${MY_TOKEN:-x} {q}"') % "", env=env)
    assert re.fullmatch(r"<string>:\d+:\d+: nodes\.a\.params\.template: \$\{MY_TOKEN\} is a "
                        r"secret \(by its name\), and this is not a secret key, .* such as "
                        r"api_key, token or password", str(caught.value))
    assert "tok-abcdef" not in str(caught.value)


URL_CREDENTIALS = """\
llmkit: 1
inputs: [question]
resources:
  chat: {type: openai_chat, model: m, base_url: "%s"}
nodes:
  generate: {type: generate, params: {llm: $chat},
             inputs: {question: question, context: question}}
outputs: {answer: generate.answer}
"""


def test_a_secret_variable_in_a_urls_user_info_is_used_and_shown_nowhere():
    url = "http://me:${LLM_PASSWORD}@127.0.0.1:9/v1"
    p = load_pipeline(URL_CREDENTIALS % url, env={"LLM_PASSWORD": "pw-hunter2"})
    chat = p.nodes["generate"].params["llm"]
    shown = [repr(chat), repr(p.nodes["generate"]), str(chat.llmkit_fingerprint()),
             dump_pipeline(p), scrub_secrets(p, "failed: pw-hunter2")]
    assert not [text for text in shown if "pw-hunter2" in text]
    assert "${LLM_PASSWORD}" in dump_pipeline(p)
    assert chat.http.base_url == "http://127.0.0.1:9/v1"  # they went into a header


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v1?key=${LLM_PASSWORD}",
                                 "http://127.0.0.1:9/${LLM_PASSWORD}@x"])
def test_a_secret_variable_elsewhere_in_a_url_is_refused(url):
    with pytest.raises(SpecError, match=r"\$\{LLM_PASSWORD\} is a secret"):
        load_pipeline(URL_CREDENTIALS % url, env={"LLM_PASSWORD": "pw-hunter2"})



# -- resources -------------------------------------------------------------------------------
BUILT: list[dict] = []


@register_resource("counted_table")
def counted_table(rows: dict | None = None, fail: bool = False) -> Table:
    """A table that records each build."""
    if fail:
        raise RuntimeError("cannot open the table")
    BUILT.append(rows or {})
    return Table(rows)


RESOURCES = """\
llmkit: 1
inputs: [k]
resources:
  t: {type: counted_table, rows: {a: 1}}
  never: {type: counted_table, rows: {b: 2}}
nodes:
  one: {type: "tests.fixtures.nodes:Lookup", params: {table: $t}, inputs: {key: k}}
  two: {type: "tests.fixtures.nodes:Lookup", params: {table: $t}, inputs: {key: k}}
"""


def test_resources_are_built_once_per_load_shared_and_only_when_used():
    BUILT.clear()
    p = load_pipeline(RESOURCES, allow_import=True)
    assert BUILT == [{"a": 1}]
    assert p.nodes["one"].table is p.nodes["two"].table
    q = load_pipeline(RESOURCES, allow_import=True)
    assert q.nodes["one"].table is not p.nodes["one"].table
    assert p.run(k="a") == {"one.value": 1, "two.value": 1}


def test_unknown_resource_reference_suggests_the_closest():
    with pytest.raises(SpecError, match=r"^<string>:7:\d+: nodes\.one\.params\.table: '\$tt' "
                                        r"names no resource \(did you mean 't'\?\)"):
        load_pipeline(RESOURCES.replace("table: $t}", "table: $tt}", 1), allow_import=True)


def test_failing_resource_is_located_at_its_entry():
    with pytest.raises(SpecError, match=r"^<string>:4:3: resource 't' \(counted_table\): "
                                        r"cannot build it: RuntimeError: cannot open the table"):
        load_pipeline(RESOURCES.replace("rows: {a: 1}", "fail: true"), allow_import=True)


def test_resources_may_refer_to_each_other_but_not_in_a_loop():
    text = RESOURCES.replace("rows: {a: 1}", "rows: {a: $never}")
    assert load_pipeline(text, allow_import=True).run(k="a")["one.value"].rows == {"b": 2}
    with pytest.raises(SpecError, match="resources refer to each other in a loop: t -> t"):
        load_pipeline(RESOURCES.replace("rows: {a: 1}", "rows: $t"), allow_import=True)


def test_unknown_resource_type_and_param_suggest():
    with pytest.raises(PipelineError, match=r"^<string>:4:\d+: unknown resource type "
                                            r"'counted_tabel' \(did you mean 'counted_table'"):
        load_pipeline(RESOURCES.replace("counted_table, rows: {a", "counted_tabel, rows: {a"),
                      allow_import=True)
    with pytest.raises(SpecError, match=r"unknown param 'row' \(did you mean 'rows'\?\)"):
        load_pipeline(RESOURCES.replace("rows: {a", "row: {a"), allow_import=True)


def test_a_resource_reference_is_only_a_param_value():
    with pytest.raises(SpecError, match=r"nodes\.one\.inputs\.key: expected a source .*not "
                                        r"the resource reference '\$t'"):
        load_pipeline(RESOURCES.replace("inputs: {key: k}", "inputs: {key: $t}", 1),
                      allow_import=True)


# -- settings --------------------------------------------------------------------------------
def test_every_setting_key_maps_onto_settings():
    a = node_a(", max_batch: 7, max_wait_ms: 1.5, concurrency: 3, timeout: 2, inline: false, "
               "retry: {attempts: 4, backoff: 0.5, max_backoff: 9, jitter: 0}, "
               "cache: {ttl: 60}")
    s = a.settings
    assert (s.max_batch, s.max_wait_ms, s.concurrency, s.timeout, s.inline) == (7, 1.5, 3, 2,
                                                                                False)
    assert s.retry == Retry(attempts=4, backoff=0.5, max_backoff=9, jitter=0)
    assert (s.cache, s.cache_ttl) == (True, 60)


@pytest.mark.parametrize(("cache", "expected"), [
    ("true", (True, None)), ("false", (False, None)), ("null", (None, None)),
    ("{enabled: false, ttl: 5}", (False, 5)), ("{enabled: null, ttl: 5}", (None, 5)),
])
def test_cache_setting_forms(cache, expected):
    a = node_a(f", cache: {cache}")
    assert (a.settings.cache, a.settings.cache_ttl) == expected


def test_partial_retry_keeps_the_other_fields_of_the_node_default():
    assert node_a(", retry: {attempts: 2}").settings.retry == Retry(attempts=2)


@pytest.mark.parametrize(("extra", "message"), [
    (", max_batch: 0", r"nodes\.a\.max_batch: expected an integer of at least 1, not 0"),
    (", max_batch: true", r"nodes\.a\.max_batch: expected an integer of at least 1, not true"),
    (", timeout: -1", r"nodes\.a\.timeout: expected a number above 0, or null, not -1"),
    (", inline: 1", r"nodes\.a\.inline: expected true or false, or null, not 1"),
    (", retry: {attempt: 3}", r"nodes\.a\.retry: unknown key 'attempt' \(did you mean "
                              r"'attempts'\?\)"),
    (", cache: {ttl: 0}", r"nodes\.a\.cache\.ttl: expected a number above 0"),
    (", cache: yes please", r"nodes\.a\.cache: expected true or false, or null, not a string"),
    (", max_batc: 3", r"nodes\.a: unknown key 'max_batc' \(did you mean 'max_batch'\?\)"),
])
def test_bad_settings_name_node_and_key(extra, message):
    with pytest.raises(SpecError, match=r"^<string>:4:\d+: " + message):
        node_a(extra)


# -- types, params, wiring -------------------------------------------------------------------
def test_import_paths_need_allow_import():
    text = ONE_NODE.replace("type: prompt", "type: 'tests.fixtures.nodes:Slow'") % ""
    with pytest.raises(PipelineError, match=r"^<string>:4:\d+: node type "
                                            r"'tests.fixtures.nodes:Slow' is a Python import "
                                            r"path.*--allow-import"):
        load_pipeline(text)


def test_bad_import_path_is_a_pipeline_error():
    text = ONE_NODE.replace("type: prompt", "type: 'no_such_module_x:Thing'") % ""
    with pytest.raises(PipelineError, match="cannot import node type"):
        load_pipeline(text, allow_import=True)


def test_node_params_are_checked_before_the_constructor_runs():
    with pytest.raises(SpecError, match=r"node 'a' \(prompt\): unknown param 'templat' \(did "
                                        r"you mean 'template'\?\); its params are: template"):
        load_pipeline(ONE_NODE.replace("template:", "templat:") % "")
    with pytest.raises(SpecError, match=r"^<string>:4:3: node 'a' \(prompt\): missing "
                                        r"required param 'template'"):
        load_pipeline(ONE_NODE.replace('params: {template: "{q}"}, ', "") % "")


def test_constructor_failure_is_located_at_the_node():
    with pytest.raises(SpecError, match=r"^<string>:4:3: node 'a' \(prompt\): cannot build it: "
                                        r"ValueError"):
        load_pipeline(ONE_NODE.replace('"{q}"', '"{q"') % "")


TWO_NODES = """\
llmkit: 1
inputs: [q]
nodes:
  a: {type: prompt, params: {template: "{q}"}, inputs: {q: q}}
  b: {type: prompt, params: {template: "{text}"}, inputs: {text: a.text}}
outputs: {out: b.text}
"""


@pytest.mark.parametrize(("old", "new", "error", "message"), [
    ("inputs: {q: q}", "inputs: {qq: q}", UnknownPortError,
     r"^<string>:4:\d+: node 'a' has no input port 'qq' \(did you mean 'q'\?\)"),
    ("{text: a.text}", "{text: a.txt}", UnknownPortError,
     r"^<string>:5:\d+: input 'b.text' reads 'a.txt', but node 'a' has no output 'txt' "
     r"\(did you mean 'text'\?\)"),
    ("{text: a.text}", "{text: c.text}", UnknownNodeError,
     r"^<string>:5:\d+: input 'b.text' reads 'c.text', but there is no node 'c'"),
    ("out: b.text", "out: b.txt", UnknownPortError, r"^<string>:6:\d+: output 'out' reads"),
    ("inputs: {q: q}", "inputs: {}", UnwiredInputError,
     r"^<string>:4:3: input 'a.q' is required but nothing is wired to it"),
    ("inputs: {q: q}", "inputs: {q: b.text}", CycleError,
     r"^<string>:4:\d+: the pipeline has a cycle: a -> b -> a"),
])
def test_graph_errors_keep_their_class_and_gain_the_nodes_line(old, new, error, message):
    with pytest.raises(error, match=message) as caught:
        load_pipeline(TWO_NODES.replace(old, new))
    assert caught.value.line in (4, 5, 6)


def test_an_error_in_an_output_named_like_a_node_points_at_the_output():
    text = TWO_NODES.replace("out: b.text", "a: b.txt")
    with pytest.raises(UnknownPortError, match=r"^<string>:6:\d+: output 'a' reads") as caught:
        load_pipeline(text)
    assert (caught.value.output, caught.value.node) == ("a", None)


@pytest.mark.parametrize(("text", "message"), [
    ("# nothing\n", r"^<string>:1:1: a pipeline file is a mapping that starts with "
                     r"'llmkit: 1', not null"),
    ("- a\n- b\n", r"a pipeline file is a mapping .* not a list"),
    ("name: x\nnodes: {}\n", r"^<string>:1:1: missing the format version: start the file "
                             r"with 'llmkit: 1'"),
    ("llmkit: 2\nnodes: {}\n", r"^<string>:1:9: llmkit: unsupported format version 2; this "
                               r"llmkit reads version 1"),
    ("llmkit: '1'\nnodes: {}\n", r"unsupported format version a string"),
    ("llmkit: 1\n", r"missing 'nodes'"),
    ("llmkit: 1\nnodes: {}\nouputs: {}\n", r"^<string>:3:1: top level: unknown key 'ouputs' "
                                           r"\(did you mean 'outputs'\?\)"),
    ("llmkit: 1\nnodes: {a: {params: {}}}\n", r"nodes\.a: missing 'type'"),
    ("llmkit: 1\nnodes: {a: {type: promt}}\n", r"unknown node type 'promt' \(did you mean "
                                               r"'prompt'\?\)"),
    ("llmkit: 1\nnodes: []\n", r"^<string>:2:8: nodes: expected a mapping, not a list"),
    ("llmkit: 1\ninputs: {q: sting}\nnodes: {}\n", r"inputs\.q: unknown type 'sting'"),
    ("llmkit: 1\ninputs: ['a b']\nnodes: {}\n", r"invalid pipeline input name 'a b'"),
    ("llmkit: 1\nnodes: {'a.b': {type: prompt, params: {template: x}}}\n",
     r"^<string>:2:9: invalid node name 'a.b'"),
    ("llmkit: 1\nnodes: {1: {type: prompt}}\n", r"nodes: key 1 is not a name"),
])
def test_file_level_errors(text, message):
    with pytest.raises(PipelineError, match=message):
        load_pipeline(text)


def test_lookup_node_from_fixture_is_a_plain_class():
    p = load_pipeline(RESOURCES, allow_import=True)
    assert isinstance(p.nodes["one"], Lookup)
