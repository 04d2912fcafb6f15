"""The node API has no silent traps: settings written as class attributes work, a subclass's
settings merge over its parent's, and a class that cannot run fails where it is defined."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from llmkit.core.node import Node, Retry, Settings, node
from llmkit.core.pipeline import Pipeline
from llmkit.nodes.common import REMOTE_RETRY
from llmkit.nodes.retrieval.nodes import Embed
from llmkit.spec import load_pipeline
from tests.engine.nodes import Tracker


class WideBatch(Node):
    """A batch node that sets its settings as class attributes."""

    inputs = {"x": int}
    outputs = {"x": int}
    max_batch = 1000
    inline = True
    concurrency = 1

    def __init__(self, tracker: Tracker | None = None) -> None:
        self.tracker = tracker or Tracker()

    def run_batch(self, items):
        self.tracker.enter(len(items))
        self.tracker.leave()
        return items


def batches(made: Node, n: int) -> list[int]:
    """The batch sizes `made` (holding a tracker) is called with for `n` runs."""
    Pipeline(inputs=["x"]).add("b", made, x="x").run_many([{"x": i} for i in range(n)])
    return made.tracker.batches  # type: ignore[attr-defined]


# -- settings as class attributes ------------------------------------------------------------
def test_class_attributes_named_like_settings_are_the_class_settings():
    s = WideBatch.settings
    assert (s.max_batch, s.inline, s.concurrency) == (1000, True, 1)
    assert batches(WideBatch(), 100) == [100]  # not four calls of 32, 32, 32 and 4


def test_class_attributes_named_like_settings_leave_the_class_for_settings():
    assert not hasattr(WideBatch, "max_batch") and not hasattr(WideBatch(), "inline")


@pytest.mark.parametrize(("body", "message"), [
    ("max_batch = 0", "Bad.max_batch must be an integer of at least 1, not 0"),
    ("inline = 1", "Bad.inline must be True or False, or None, not 1"),
    ("concurrency = '4'", "Bad.concurrency must be an integer of at least 1, or None, not '4'"),
    ("retry = 3", "Bad.retry must be a Retry, not 3"),
    ("settings = Settings(timeout=-1)", "Bad.timeout must be a number above 0, or None"),
    ("settings = {'max_batch': 8}", "Bad.settings must be a Settings, not"),
])
def test_a_wrong_class_setting_fails_at_definition_naming_class_and_attribute(body, message):
    source = f"class Bad(Node):\n    {body}\n\n    def run(self):\n        return {{}}\n"
    with pytest.raises(TypeError, match=f"^{message}"):
        exec(source, {"Node": Node, "Settings": Settings})


def test_a_setting_written_both_in_settings_and_as_attribute_is_refused():
    with pytest.raises(TypeError, match="Twice sets max_batch twice"):
        class Twice(Node):
            settings = Settings(max_batch=8)
            max_batch = 16

            def run(self):
                return {}


def test_every_settings_field_can_be_a_class_attribute():
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values = {"max_batch": 3, "max_wait_ms": 1.0, "concurrency": 2, "retry": Retry(attempts=2),
              "timeout": 4.0, "cache": False, "cache_ttl": 9.0, "inline": True}
    assert values.keys() == fields.keys()
    made = type("AllAttributes", (Node,), {**values, "run": lambda self: {}})
    assert dataclasses.asdict(made.settings) == dataclasses.asdict(Settings(**values))


# -- a subclass's settings merge over its parent's ---------------------------------------------
def test_subclass_settings_keep_the_parents_other_fields():
    class WideEmbed(Embed):
        settings = Settings(concurrency=8)

    s = WideEmbed.settings
    assert (s.concurrency, s.max_batch, s.retry) == (8, 256, REMOTE_RETRY)


def test_subclass_class_attribute_keeps_the_parents_other_fields():
    class OneAtATime(Embed):
        concurrency = 1

    assert (OneAtATime.settings.concurrency, OneAtATime.settings.max_batch) == (1, 256)


def test_a_field_given_its_default_explicitly_overrides_the_parent():
    class Narrow(Embed):
        settings = Settings(max_batch=32)  # the dataclass default, written on purpose

    assert Narrow.settings.max_batch == 32 and Narrow.settings.retry == REMOTE_RETRY


def test_settings_merge_down_a_chain_of_subclasses():
    class Middle(Embed):
        pass

    class Leaf(Middle):
        settings = Settings(inline=True)

    class Deeper(Leaf):
        max_wait_ms = 1.0

    s = Deeper.settings
    assert (s.max_batch, s.retry, s.inline, s.max_wait_ms) == (256, REMOTE_RETRY, True, 1.0)
    assert Embed.settings.inline is None  # the parents are untouched


def test_settings_reads_stay_plain_attribute_reads():
    assert isinstance(inspect.getattr_static(Embed, "settings"), Settings)
    assert Embed().settings is Embed.settings


# -- a class that cannot run ---------------------------------------------------------------------
def test_a_class_with_neither_run_nor_run_batch_fails_at_definition_saying_what_to_add():
    with pytest.raises(TypeError, match=r"^Foo must define run\(self, \*\*inputs\) or "
                                        r"run_batch\(self, items\)$"):
        class Foo(Node):
            inputs = {"x": int}


def test_an_abstract_base_leaves_run_to_its_subclasses():
    class Base(Node, abstract=True):
        outputs = {"y": int}
        max_batch = 4

    class Concrete(Base):
        def run_batch(self, items):
            return [{"y": 1} for _ in items]

    assert Concrete.settings.max_batch == 4
    with pytest.raises(TypeError, match="Incomplete must define run"):
        class Incomplete(Base):  # abstract=True is not inherited
            pass


def test_a_subclass_inherits_run_from_its_parent():
    class Renamed(Embed):
        version = "2"

    assert Renamed().is_batch()


# -- the other ways to set settings still win over the class's -----------------------------------
def test_configure_overrides_class_settings_on_one_instance():
    tuned = WideBatch().configure(max_batch=7)
    assert tuned.settings.max_batch == 7 and tuned.settings.inline is True
    assert WideBatch.settings.max_batch == WideBatch().settings.max_batch == 1000
    assert batches(WideBatch().configure(max_batch=40), 100) == [40, 40, 20]


def test_configure_rejects_a_wrong_value_naming_the_node():
    with pytest.raises(TypeError, match=r"^WideBatch\.max_wait_ms must be a number of at least 0"):
        WideBatch().configure(max_wait_ms=-1)


def test_node_decorator_settings_still_apply():
    @node(outputs="y", batch=True, max_batch=5)
    def double(x):
        return [2 * v for v in x]

    assert double.settings.max_batch == 5
    with pytest.raises(TypeError, match=r"double\.inline must be True or False"):
        node(outputs="y", inline="yes")(double.fn)


def test_yaml_settings_override_class_settings():
    text = ("llmkit: 1\ninputs: [x]\nnodes:\n  b: {type: 'tests.engine.test_node_traps:WideBatch'"
            ", inputs: {x: x}, max_batch: 3}\n")
    loaded = load_pipeline(text, allow_import=True, env={}).nodes["b"]
    assert (loaded.settings.max_batch, loaded.settings.inline) == (3, True)
    assert batches(loaded, 7) == [3, 3, 1]
