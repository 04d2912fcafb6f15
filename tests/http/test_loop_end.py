"""Clients opened on a caller's event loop close when that loop ends, with no warning; the
next loop gets a new client. A user's `asyncio.run(main())` must exit cleanly under
`-W error::ResourceWarning -X dev`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import anyio
import pytest

from llmkit.http import LoopLocalClient, make_client
from llmkit.http import client as client_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_loops_client_closes_when_the_loop_ends(fake_server, backend):
    holder = LoopLocalClient(partial(make_client, fake_server.url))
    used = []

    async def use() -> int:
        used.append(holder.get())
        return (await used[-1].get("/v1/models")).status_code

    assert anyio.run(use, backend=backend) == 200
    assert used[0].is_closed
    assert anyio.run(use, backend=backend) == 200  # a new loop gets a new, open client
    assert used[1] is not used[0] and used[1].is_closed


def test_the_loop_end_registry_forgets_a_finished_loop(fake_server):
    holder = LoopLocalClient(partial(make_client, fake_server.url))

    async def use() -> object:
        await holder.get().get("/v1/models")
        loop = asyncio.get_running_loop()
        assert loop in client_module._loop_ends
        return loop

    assert asyncio.run(use()) not in client_module._loop_ends


def test_a_client_closed_before_the_loop_ends_is_fine(fake_server):
    holder = LoopLocalClient(partial(make_client, fake_server.url))

    async def use() -> None:
        await holder.get().get("/v1/models")
        await holder.aclose()

    asyncio.run(use())


def run_strict(script: str, *args: object) -> subprocess.CompletedProcess[str]:
    """Run `script` under `-W error::ResourceWarning -X dev` and capture its output.

    -X dev also logs callbacks slower than 100 ms (the first call imports aiohttp, builds the
    index): timing, not resources, and noisy on a loaded machine, so the script mutes that
    one asyncio logger level; leaks still reach stderr as "Exception ignored" and errors."""
    quiet = "import logging; logging.getLogger('asyncio').setLevel(logging.ERROR)\n"
    return subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-X", "dev", "-c",
         quiet + textwrap.dedent(script), *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


SCRIPT = """
    import asyncio, sys
    from llmkit import load_pipeline

    url, docs, index = sys.argv[1:]
    env = {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": "k", "LLMKIT_MODEL": "m",
           "LLMKIT_DOCS": docs, "LLMKIT_INDEX": index}
    p = load_pipeline("pipelines/rag_openai.yaml", env=env)

    async def main():
        return (await p.arun(question="Why do volcanoes erupt?"))["answer"]

    answers = [asyncio.run(main()), asyncio.run(main())]  # the second loop: a new client
    print(all(a.startswith("answer ") for a in answers))
"""


def test_asyncio_run_of_arun_exits_without_warnings(fake_server, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "volcanoes.md").write_text("Volcanoes erupt when gas-rich magma rises.")
    done = run_strict(SCRIPT, fake_server.url, docs, tmp_path / "index")
    assert (done.stderr, done.returncode) == ("", 0)
    assert done.stdout == "True\n"
    # the index embedded once on the background loop, each run once on its own loop
    assert fake_server.control.stats()["requests"] == {
        "/v1/embeddings": 3, "/v1/chat/completions": 2}


def test_the_background_loop_closes_its_clients_and_itself_at_exit(fake_server):
    script = """
        import sys
        from llmkit.core import background
        from llmkit.http import LoopLocalClient, make_client

        holder = LoopLocalClient(lambda: make_client(sys.argv[1]))

        async def use():
            client = holder.get()
            await client.get("/v1/models")
            return client

        client, loop = background.call(use), background.get_loop()
        background._shutdown()  # what atexit runs
        print(client.is_closed, loop.is_closed())
    """
    done = run_strict(script, fake_server.url)
    assert (done.stdout, done.stderr, done.returncode) == ("True True\n", "", 0)
