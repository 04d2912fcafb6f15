"""A real Dask cluster for the executor tests: `LocalCluster(n_workers=2, processes=True)`
per module, started with the environment the rag pipeline reads (a scratch docs folder and
its index, built once here so the workers only open it) and closed at the end, when every
worker process it ever had must be gone."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from tests.cache.conftest import redis_server, redis_url  # noqa: F401  (the Redis tests' own)
from tests.extras import require

distributed = require("distributed", "dask")

DOCUMENTS = {
    "volcanoes.md": "Stratovolcanoes erupt explosively because their viscous magma traps gas.",
    "glaciers.md": "Glaciers carve valleys and leave moraines of rock behind as they retreat.",
    "tides.md": "Tides rise and fall twice a day, pulled by the gravity of the moon and sun.",
    "bees.md": "Honey bees dance to tell their hive the direction and distance of flowers.",
}
REPO = Path(__file__).parents[2]


class Cluster:
    """The client, its cluster, and every worker PID seen (`pids`, refreshed by `workers`)."""

    def __init__(self, client, cluster) -> None:
        self.client, self.cluster = client, cluster
        self.pids: set[int] = set()

    def workers(self) -> dict[str, int]:
        """Worker address -> PID, now."""
        pids = self.client.run(os.getpid)
        self.pids.update(pids.values())
        return pids


def alive(pids: set[int]) -> list[int]:
    """The PIDs among `pids` that are running processes (not zombies)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


@pytest.fixture(scope="module")
def rag_env(tmp_path_factory) -> dict[str, str]:
    """LLMKIT_DOCS and LLMKIT_INDEX for pipelines/rag.yaml: four documents, indexed."""
    root = tmp_path_factory.mktemp("rag")
    (root / "docs").mkdir()
    for name, text in DOCUMENTS.items():
        (root / "docs" / name).write_text(text)
    return {"LLMKIT_DOCS": str(root / "docs"), "LLMKIT_INDEX": str(root / "index")}


@pytest.fixture(scope="module")
def cluster(rag_env):
    """Two worker processes that inherit `rag_env` (they expand `${VAR}` themselves)."""
    from llmkit.spec import load_pipeline

    with pytest.MonkeyPatch.context() as mp:
        for name, value in rag_env.items():
            mp.setenv(name, value)
        load_pipeline(REPO / "pipelines" / "rag.yaml").run({"question": "index it"})
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
        client = distributed.Client(local)
    c = Cluster(client, local)
    c.workers()
    try:
        yield c
    finally:
        c.workers()
        client.close()
        local.close()
    assert c.pids and not alive(c.pids), f"worker processes left behind: {alive(c.pids)}"
