"""`llmkit run` on a terminal prints a streamed answer once, as it streams, and then only the
other outputs (the run is in a pseudo-terminal, where the CLI streams)."""

import os
import pty
import subprocess
import sys

from llmkit.core.events import emit_token
from llmkit.core.node import Node
from tests.cli.conftest import environment

PIPELINE = """\
llmkit: 1
inputs: {question: str}
nodes:
  answer:
    type: tests.cli.test_streamed_answer:Speak
    inputs: {question: question}
outputs:
  answer: answer.text
  words: answer.words
"""


class Speak(Node):
    """Streams its answer word by word (an async node: the engine streams those), and counts
    the words."""

    inputs = {"question": str}
    outputs = {"text": str, "words": int}

    async def run(self, question):
        words = ["The", "answer", "to", question]
        for i, word in enumerate(words):
            emit_token(word if i == 0 else " " + word)
        return {"text": " ".join(words), "words": len(words)}


def _run_on_a_terminal(*args: str, cwd) -> str:
    """stdout of `llmkit ARGS` run with a pseudo-terminal as stdout."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "llmkit", *args], stdout=follower,
                            stderr=subprocess.PIPE, cwd=cwd, env=environment())
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed (Linux raises EIO)
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    proc.stderr.close()
    return out.decode().replace("\r\n", "\n")


def test_a_streamed_answer_is_printed_once_then_the_other_outputs(tmp_path):
    (tmp_path / "speak.yaml").write_text(PIPELINE)
    out = _run_on_a_terminal("run", "speak.yaml", "--allow-import", "--no-cache",
                             "-i", "question=life", cwd=tmp_path)
    assert out == "The answer to life\n\nwords: 4\n"
