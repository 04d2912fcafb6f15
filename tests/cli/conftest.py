"""Run the real `llmkit` command in a subprocess, in a scratch directory (so the default
cache never lands in the repository), with the repository importable for test nodes."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
PIPELINES = REPO / "tests" / "fixtures" / "pipelines"


@dataclass
class Result:
    code: int
    out: str
    err: str


def environment(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@pytest.fixture
def llmkit(tmp_path):
    """`llmkit(*args, stdin=..., env={...})` runs `python -m llmkit` and returns a Result."""

    def run(*args: object, stdin: str | None = None, env: dict[str, str] | None = None
            ) -> Result:
        proc = subprocess.run([sys.executable, "-m", "llmkit", *map(str, args)], cwd=tmp_path,
                              input=stdin, capture_output=True, text=True, timeout=60,
                              env=environment(**(env or {})))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit code 2 and exactly one `llmkit: error: ...` line on stderr holding `fragments`."""
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("llmkit: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
