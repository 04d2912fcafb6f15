"""`pip install llmkit` (no extra) runs the quickstart: nothing on its path imports a package
that only an extra or the test tools install (CI installs them all, so only this test sees
one slip in, as sniffio once did)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

# Installed by `[dev]` or an extra, or pulled in by those only: never by the core's own.
NOT_CORE = ["sniffio", "trio", "starlette", "uvicorn", "prometheus_client", "redis", "dask",
            "distributed", "openai", "hypothesis", "pytest", "faiss", "psutil",
            "sentence_transformers", "cloudpickle", "pypdf", "opentelemetry", "PIL",
            "pydantic"]

SCRIPT = f"""
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {NOT_CORE!r}:
            raise ModuleNotFoundError(f"{{name}} is not a core dependency", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for name in [n for n in sys.modules if n.partition(".")[0] in {NOT_CORE!r}]:
    del sys.modules[name]

import asyncio
from llmkit.cli import main

code = main(["run", "pipelines/rag.yaml", "-i", "question=How does llmkit cache results?",
             "--no-cache"])
assert code == 0, code

from llmkit import load_pipeline

p = load_pipeline("pipelines/rag.yaml")
async def ask():
    return await asyncio.gather(*(p.arun(question=f"what is a node? {{i}}") for i in range(3)))
assert len(asyncio.run(ask())) == 3
"""


def test_the_quickstart_and_arun_import_only_core_dependencies(tmp_path):
    env = {"LLMKIT_INDEX": str(tmp_path / "index"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
