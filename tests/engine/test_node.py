"""The node model: params captured from the constructor, fingerprints, settings, @node."""

import pytest

from llmkit.core.node import Node, Retry, Settings, node
from llmkit.core.pipeline import Pipeline


class Model(Node):
    inputs = {"text": str}
    outputs = {"text": str}

    def __init__(self, model: str, api_key: str | None = None, temperature: float = 0.0):
        self.model, self.api_key, self.temperature = model, api_key, temperature

    def run(self, text):
        return {"text": text}


def test_params_are_the_constructor_arguments_with_defaults():
    assert Model("m", api_key="k").params == {"model": "m", "api_key": "k", "temperature": 0.0}


def test_fingerprint_ignores_secrets_but_not_params():
    a, b = Model("m", api_key="sk-1"), Model("m", api_key="sk-2")
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != Model("m", temperature=0.5).fingerprint
    assert "sk-1" not in repr(a)


def test_fingerprint_depends_on_version():
    class V2(Model):
        version = "2"

    class V1(Model):
        pass

    assert V1("m").describe()["version"] == "1"
    assert V2("m").describe()["version"] == "2"


def test_a_registered_node_is_fingerprinted_by_its_name_not_its_module(monkeypatch):
    from llmkit.core import registry

    def defined_in(module: str) -> type[Model]:
        return type("Shout", (Model,), {"__module__": module})

    before, after = defined_in("old.place"), defined_in("new.place")
    assert before("m").fingerprint != after("m").fingerprint  # unregistered: by module path
    for moved in (before, after):  # the same registered type, before and after a move
        monkeypatch.setitem(registry._BY_CLASS, moved, "shout")
    assert before("m").fingerprint == after("m").fingerprint


def test_configure_overrides_settings_per_instance():
    m = Model("m").configure(max_batch=7, retry=Retry(attempts=3))
    assert m.settings.max_batch == 7 and m.settings.retry.attempts == 3
    assert Model("m").settings == Settings()


def test_configure_rejects_unknown_settings_with_a_suggestion():
    with pytest.raises(TypeError, match="did you mean 'max_batch'"):
        Model("m").configure(max_bach=3)


def test_function_node_single_output_returns_the_value():
    @node(outputs="y")
    def f(x, k=2):
        return x * k

    assert f.inputs.keys() == {"x", "k"} and f.defaults == {"k": 2}
    assert f(3) == 6  # still callable as a function
    assert Pipeline(inputs=["x"]).add("f", f, x="x").run(x=3) == {"y": 6}


def test_function_node_several_outputs_and_batch_columns():
    @node(outputs=("lo", "hi"), batch=True)
    def bounds(x):
        return {"lo": [v - 1 for v in x], "hi": [v + 1 for v in x]}

    p = Pipeline(inputs=["x"]).add("b", bounds, x="x")
    assert p.run_many([{"x": 1}, {"x": 5}]) == [{"lo": 0, "hi": 2}, {"lo": 4, "hi": 6}]


def test_function_node_fingerprint_changes_with_its_code():
    def make(k):
        @node(outputs="y")
        def f(x):
            return x * k if k else x

        return f

    def g1(x):
        return x + 1

    def g2(x):
        return x + 2

    assert node(outputs="y")(g1).fingerprint != node(outputs="y")(g2).fingerprint


def test_retry_delay_grows_and_honours_retry_after():
    from llmkit.errors import RetryableError

    r = Retry(attempts=5, backoff=0.1, jitter=0.0, max_backoff=1.0)
    err = RetryableError("busy")
    assert [r.delay(err, a) for a in (1, 2, 3, 5)] == [0.1, 0.2, 0.4, 1.0]
    assert r.delay(RetryableError("busy", retry_after=0.7), 1) == 0.7
    assert r.retries(err, 4) and not r.retries(err, 5)
    assert not r.retries(ValueError("bug"), 1)
