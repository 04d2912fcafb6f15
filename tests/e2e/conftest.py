"""End-to-end tests: the shipped pipelines, the facades and the `llmkit` command against the
fake LLM/search server running as a real subprocess (`tests/servers`). Under CI=true a
server that cannot start fails these tests instead of skipping them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmkit.nodes.backends.openai import OpenAIChat, OpenAIEmbedder
from llmkit.rag import RAGChain
from tests.servers.fixtures import fake_server, fake_server_process  # noqa: F401
from tests.servers.process import FakeServerProcess

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
KEY = "sk-e2e-7c1d9a3f5b2e4d6c"
MODEL = "fake-chat"

DOCUMENTS = {
    "volcanoes.md": "Stratovolcanoes erupt explosively because their viscous magma traps gas.",
    "glaciers.md": "Glaciers carve valleys and leave moraines of rock behind as they retreat.",
    "tides.md": "Tides rise and fall twice a day, pulled by the gravity of the moon and sun.",
    "bees.md": "Honey bees dance to tell their hive the direction and distance of flowers.",
}


@dataclass
class Result:
    code: int
    out: str
    err: str


def server_env(server: FakeServerProcess, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment that points every shipped pipeline at the fake server."""
    docs = tmp_path / "docs"
    if not docs.exists():
        docs.mkdir()
        for name, text in DOCUMENTS.items():
            (docs / name).write_text(text)
    return {"OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": KEY,
            "LLMKIT_MODEL": MODEL, "SEARX_URL": server.url, "LLMKIT_DOCS": str(docs),
            "LLMKIT_INDEX": str(tmp_path / "index"), **extra}


def cli(*args: object) -> list[str]:
    """The argv of the real `llmkit` command, as `python -m llmkit`."""
    return [sys.executable, "-m", "llmkit", *map(str, args)]


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment plus `env`, with the repository importable."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **env}


def llmkit(*args: object, env: dict[str, str], cwd: Path) -> Result:
    """Run the `llmkit` command in `cwd` (a scratch directory) and capture its output."""
    done = subprocess.run(cli(*args), cwd=cwd, env=cli_env(env), capture_output=True,
                          text=True, timeout=60)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rag(fake_server: FakeServerProcess) -> RAGChain:  # noqa: F811
    """A RAGChain on OpenAI-compatible embeddings and chat from the fake server, with the
    server's counters reset after the corpus was embedded."""
    base_url = f"{fake_server.url}/v1"
    chain = RAGChain.from_documents(
        [{"text": text, "source": name} for name, text in DOCUMENTS.items()],
        embedder=OpenAIEmbedder("fake-embed", base_url=base_url, api_key=KEY),
        llm=OpenAIChat(MODEL, base_url=base_url, api_key=KEY))
    fake_server.control.reset_stats()
    return chain


def last_prompt(server: FakeServerProcess) -> str:
    """The user message of the last chat request the server received."""
    body = server.control.stats()["last"]["/v1/chat/completions"]
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
