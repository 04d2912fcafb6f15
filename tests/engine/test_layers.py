"""The engine stands on its own: building and running a pipeline loads neither the
pipeline-file format, nor the CLI, nor the node library, nor the HTTP stack."""

import subprocess
import sys

ENGINE_ONLY = """
import sys
from llmkit import Node, Pipeline, node

class Upper(Node):
    inputs = {"text": str}
    outputs = {"text": str}

    def run(self, text):
        return {"text": text.upper()}

@node(outputs="text")
def exclaim(text):
    return text + "!"

p = Pipeline(inputs=["text"]).add("u", Upper(), text="text").add("e", exclaim, text="u.text")
assert p.run(text="hi") == {"text": "HI!"}
assert Upper().type_name == "__main__:Upper"
print(sorted(m for m in sys.modules if m.startswith(
    ("llmkit.spec", "llmkit.cli", "llmkit.nodes", "llmkit.http", "yaml", "httpx"))))
"""


def test_running_a_pipeline_loads_no_layer_above_the_engine():
    out = subprocess.run([sys.executable, "-c", ENGINE_ONLY], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
