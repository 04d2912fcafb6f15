"""The `llmkit` command against the fake server: a wrong key or a server that is not running is
one clear line (and the key is printed nowhere, nor stored), and on a terminal the final
answer's tokens are printed as they arrive."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import (
    KEY,
    PIPELINES,
    cli,
    cli_env,
    llmkit,
    server_env,
)
from tests.servers.fake_llm import fake_answer

GOOD_KEY = "sk-e2e-right-0a1b2c3d4e5f"


def assert_one_line(err: str, prefix: str, *fragments: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def files_hold(paths: list[Path], *secrets: str) -> list[str]:
    """The files among `paths` (and their SQLite -wal/-shm companions) holding a secret."""
    found = []
    for path in paths:
        for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if candidate.exists():
                data = candidate.read_bytes()
                found += [f"{candidate}: {s}" for s in secrets if s.encode() in data]
    return found


def test_a_wrong_key_is_one_clear_line_and_the_key_goes_nowhere(fake_server, tmp_path):
    fake_server.control.faults(api_key=GOOD_KEY)
    cache = tmp_path / "cache.db"
    # A run with the right key fills the cache; the key must not be stored with the results.
    good = llmkit("run", PIPELINES / "rag_openai.yaml", "-i", "question=Why tides?",
                  "--cache", cache, env=server_env(fake_server, tmp_path,
                                                   OPENAI_API_KEY=GOOD_KEY), cwd=tmp_path)
    assert good.code == 0, good.err

    env = server_env(fake_server, tmp_path)  # OPENAI_API_KEY=KEY: the wrong one
    url = f"{fake_server.url}/v1"
    embedding = llmkit("run", PIPELINES / "rag_openai.yaml", "-i", "question=Why bees?",
                       "--cache", cache, env=env, cwd=tmp_path)
    assert embedding.code == 1
    assert_one_line(embedding.err, "llmkit: error: node 'embed' failed: BackendError: ",
                    f"401 from {url}/embeddings", "OPENAI_API_KEY")
    # A chat request fails the run (1).
    one = llmkit("run", PIPELINES / "multi_agent.yaml", "-i", "question=Cache?", "--json",
                 "--cache", cache, env=env, cwd=tmp_path)
    assert one.code == 1
    assert_one_line(one.err, "llmkit: error: node '", f"401 from {url}/chat/completions",
                    "OPENAI_API_KEY")
    assert "OPENAI_API_KEY" in json.loads(one.out)["error"]
    # Many runs: the failures are records in the output file.
    (tmp_path / "in.jsonl").write_text('{"question": "a"}\n{"question": "b"}\n')
    output = tmp_path / "out.jsonl"
    many = llmkit("run", PIPELINES / "multi_agent.yaml", "--input-file", "in.jsonl",
                  "--output", output, "--cache", cache, env=env, cwd=tmp_path)
    assert many.code == 1
    assert_one_line(many.err, "llmkit: 2 runs failed")
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 2
    assert all(f"401 from {url}/chat/completions" in r["error"] for r in records)

    printed = [r.out + r.err for r in (good, embedding, one, many)]
    for secret in (KEY, GOOD_KEY, KEY[3:], GOOD_KEY[3:]):
        assert not [text for text in printed if secret in text]
    assert cache.exists() and cache.stat().st_size > 0
    assert not files_hold([cache, output], KEY[3:], GOOD_KEY[3:])


def test_a_server_that_is_not_running_is_one_clear_line(fake_server, closed_port, tmp_path):
    env = server_env(fake_server, tmp_path,
                     OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1")
    expected = f"cannot connect to http://127.0.0.1:{closed_port}: is the server running?"
    # rag_openai: the run first brings its index in step with the docs, through search's corpus
    for pipeline, node in (("rag_openai.yaml", "search"), ("multi_agent.yaml", "optimist")):
        run = llmkit("run", PIPELINES / pipeline, "-i", "question=q", "--no-cache", env=env,
                     cwd=tmp_path)
        assert run.code == 1
        assert_one_line(run.err, f"llmkit: error: node '{node}' failed: ", expected)
        assert run.out == ""


def multi_agent_outputs(question: str) -> tuple[str, str]:
    """The fake server's (answer, panel) for pipelines/multi_agent.yaml."""
    role = fake_answer(question)  # each role is asked the bare question
    panel = "\n\n".join(f"## {r}\n{role}" for r in ("optimist", "skeptic", "engineer"))
    return fake_answer(f"Panel:\n{panel}\n\nQuestion: {question}"), panel


def readable(**outputs: str) -> str:
    """What `llmkit run` prints for outputs of several lines each."""
    return "".join(f"{name}:\n" + "".join(f"  {line}\n" for line in value.splitlines())
                   for name, value in outputs.items())


def read_terminal(args: list[str], env: dict[str, str], cwd: Path,
                  timeout: float = 30.0) -> tuple[int, list[tuple[float, str]], str]:
    """Run `args` with stdout on a pseudo-terminal; (exit code, [(seconds, text read)], stderr)."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=follower, stderr=subprocess.PIPE, cwd=cwd, env=env)
    os.close(follower)
    chunks: list[tuple[float, str]] = []
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not data:
                break
            chunks.append((time.monotonic() - started, data.decode()))
        _, err = proc.communicate(timeout=timeout)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, chunks, err.decode()


def test_a_terminal_sees_the_answer_stream_before_the_run_ends(fake_server, tmp_path):
    fake_server.control.config(stream_delay_ms=60)
    question = "Should we cache LLM answers?"
    code, chunks, err = read_terminal(
        cli("run", PIPELINES / "multi_agent.yaml", "-i", f"question={question}", "--no-cache"),
        cli_env(server_env(fake_server, tmp_path)), tmp_path)
    assert code == 0, err
    text = "".join(t for _, t in chunks).replace("\r\n", "\n")
    answer, panel = multi_agent_outputs(question)
    # Only the final node's tokens are streamed (not the roles'), then the other outputs as
    # usual: the answer is not printed a second time.
    assert text == answer + "\n\n" + readable(panel=panel)
    first_token = next(t for t, chunk in chunks if chunk.strip())
    assert chunks[-1][0] - first_token > 0.4  # the tokens came as the server sent them


def test_a_pipe_gets_the_outputs_only(fake_server, tmp_path):
    question = "Should we cache?"
    result = llmkit("run", PIPELINES / "multi_agent.yaml", "-i", f"question={question}",
                    "--no-cache", env=server_env(fake_server, tmp_path), cwd=tmp_path)
    assert result.code == 0, result.err
    answer, panel = multi_agent_outputs(question)
    assert result.out == readable(answer=answer, panel=panel)
