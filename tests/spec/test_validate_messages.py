"""`llmkit validate`, run from another folder than the pipeline's, says what is wrong with a
file in one line that starts with file:line and ends with the fix, never a traceback."""

import subprocess
import sys

import pytest

HEAD = "llmkit: 1\ninputs: {question: str}\nresources:\n  embedder: {type: hashing}\nnodes:\n"
CASES = {
    "type": ("  embed: {type: embed, params: {embedder: $embedder}, inputs: {text: question}}\n"
             "  answer: {type: generate, inputs: {question: embed.vector}}\n",
             ":7:", "embed.vector (ndarray) → answer.question (str)", "wire a source that gives"),
    "unknown": ("  s: {type: sentimnt, inputs: {text: question}}\n",
                ":6:", "unknown node type 'sentimnt'", "--plugin MODULE"),
    "template": ('  p: {type: prompt, params: {template: "{{ question }} in {context}"},\n'
                 "      inputs: {question: question}}\n",
                 ":6:", "{context} would be printed as is", "write {{ context }}"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_one_located_line_with_the_fix(case, tmp_path):
    nodes, line, what, fix = CASES[case]
    folder = tmp_path / "project" / "pipelines"
    folder.mkdir(parents=True)
    (folder / "p.yaml").write_text(HEAD + nodes)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "llmkit", "validate", str(folder / "p.yaml")],
                          cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and not done.stdout, done.stderr
    assert lines[0].startswith(f"llmkit: error: {folder / 'p.yaml'}{line}"), lines[0]
    assert what in lines[0] and fix in lines[0], lines[0]
