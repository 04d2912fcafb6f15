"""`llmkit serve` as a real subprocess on 127.0.0.1, for tests and benchmarks: started on a
free port (`--port 0`, the URL read from its `listening on` line), watched through /proc, and
stopped by its PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(rb"llmkit serve: listening on (http://\S+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """`python -m llmkit serve ARGS --port 0`, with `env` added to this process's environment
    and the repository first on PYTHONPATH (so a scratch copy of the tree serves itself).
    `command` replaces `-m llmkit serve` (a bench's own launcher)."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float = 30.0, command: tuple[str, ...] = ("-m", "llmkit", "serve"),
                 ) -> None:
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, *command, *args, "--port", "0"],
            cwd=cwd or ROOT, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self.pid = self.proc.pid
        try:
            self.url = self._wait_listening(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_listening(self, deadline: float) -> str:
        while time.monotonic() < deadline and self.proc.poll() is None:
            if found := LISTENING.search(self._read(self._err)):
                return found.group(1).decode()
            time.sleep(0.02)
        if found := LISTENING.search(self._read(self._err)):
            return found.group(1).decode()
        raise RuntimeError(f"llmkit serve did not start (exit code {self.proc.poll()}): "
                           f"{self.stderr()[-2000:]}")

    @staticmethod
    def _read(file: IO[bytes]) -> bytes:
        """The whole file, read without moving the offset that the server writes at."""
        fd = file.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0)

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self._read(self._err).decode(errors="replace")

    def stdout(self) -> str:
        return self._read(self._out).decode(errors="replace")

    def rss(self) -> int:
        """The server's resident memory, in bytes (VmRSS of /proc/PID/status)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        """The server's user + system CPU time so far (/proc/PID/stat), every thread."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited after `timeout` s; its exit code."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def stop(self) -> None:
        """Stop the server by its PID and close its output files."""
        self.terminate()
        self._out.close()
        self._err.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
