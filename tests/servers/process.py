"""Run the fake server as a real subprocess, and steer it: used by test fixtures and benchmarks."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a process we started, by its PID: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


class ServerControl:
    """A small synchronous client of the fake server's control endpoints."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(base_url=url, timeout=5.0)

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._call("DELETE", "/_stats")

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Merge `faults` (see tests/servers/fake_llm.py) into the server's and return them."""
        return self._call("POST", "/_faults", json=faults)

    def config(self, **config: Any) -> dict[str, Any]:
        return self._call("POST", "/_config", json=config)

    def reset(self) -> dict[str, Any]:
        """Config, faults and counters back to the server's startup state."""
        return self._call("POST", "/_reset")

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()


class FakeServerProcess:
    """The fake server in its own process, on a free port of 127.0.0.1."""

    def __init__(self, *args: str, timeout: float = 20.0) -> None:
        """Start `python -m tests.servers.fake_llm --port 0 ARGS` and wait until it answers."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.servers.fake_llm", "--port", "0", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        try:
            port = self._read_port(time.monotonic() + timeout)
            self.url = f"http://127.0.0.1:{port}"
            self.control = ServerControl(self.url)
            self.control.stats()
        except BaseException:
            self.stop()
            raise

    def _read_port(self, deadline: float) -> int:
        assert self.proc.stdout is not None
        wait = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([self.proc.stdout], [], [], wait)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"fake server did not start (exit code {self.proc.poll()}): {tail}")
        return int(line)

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after 5 s."""
        if hasattr(self, "control"):
            self.control.close()
        stop_process(self.proc)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> FakeServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
