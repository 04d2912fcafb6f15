"""Node types for the Dask tests, registered by short name: a worker process imports this
module because the pipeline's node classes live here (the executor ships their modules)."""

from __future__ import annotations

import hashlib
import os
import time

from llmkit.core.node import Node
from llmkit.core.registry import register

PIPELINE = """\
llmkit: 1
name: digest
inputs: [text]
nodes:
  digest: {type: dask_test_digest, params: {rounds: ROUNDS}, inputs: {text: text}}
"""

ECHO = """\
llmkit: 1
name: echo
inputs: [x]
nodes:
  echo: {type: dask_test_echo, inputs: {x: x}}
"""


LOGGED = """\
llmkit: 1
name: logged
inputs: [x]
nodes:
  double: {type: dask_test_logged, params: {log: LOG}, inputs: {x: x}}
"""


@register("dask_test_logged")
class Logged(Node):
    """2x, appending "x pid" to the file `log` for each item it computes (any process)."""

    inputs = {"x": int}
    outputs = {"y": int}
    max_batch = 10

    def __init__(self, log: str) -> None:
        self.log = log

    def run_batch(self, items: list[dict]) -> list[dict]:
        time.sleep(0.05)  # long enough for the other worker to miss the same items meanwhile
        with open(self.log, "a") as out:  # one short write per item: appends do not mix
            for item in items:
                out.write(f"{item['x']} {os.getpid()}\n")
        return [{"y": 2 * item["x"]} for item in items]


@register("dask_test_digest")
class Digest(Node):
    """CPU-bound: `rounds` chained SHA-256 of `text`; fails for the text "boom"."""

    inputs = {"text": str}
    outputs = {"digest": str}
    max_batch = 64

    def __init__(self, rounds: int = 200) -> None:
        self.rounds = rounds

    def run(self, text: str) -> dict[str, str]:
        if text == "boom":
            raise ValueError("boom is not a text to digest")
        value = text.encode()
        for _ in range(self.rounds):
            value = hashlib.sha256(value).digest()
        return {"digest": value.hex()}


@register("dask_test_echo")
class Echo(Node):
    """Gives `x` back: the cheapest node, for the executor's own overhead and memory."""

    inputs = {"x": object}
    outputs = {"y": object}
    max_batch = 256

    def run_batch(self, items: list[dict]) -> list[dict]:
        return [{"y": item["x"]} for item in items]


def digest_pipeline(rounds: int):
    """The digest pipeline, loaded from its YAML text."""
    from llmkit.spec import load_pipeline

    return load_pipeline(PIPELINE.replace("ROUNDS", str(rounds)))
