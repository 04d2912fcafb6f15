"""A real `redis-server` on a free port of 127.0.0.1, without persistence: for tests and
benchmarks of the Redis cache store."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

from tests.servers.process import stop_process


def free_port() -> int:
    """A port nothing listens on now (redis-server has no `--port 0`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """`redis-server` in its own process; `url` names database 0 on it."""

    def __init__(self, *args: str, executable: str = "redis-server", timeout: float = 10.0
                 ) -> None:
        """Start the server with extra command-line `args` (`--requirepass pw`...)."""
        path = shutil.which(executable)
        if path is None:
            raise FileNotFoundError(f"{executable} is not installed (apt-get install redis-server)")
        self._dir = tempfile.TemporaryDirectory(prefix="llmkit-redis-")
        for _ in range(3):  # another process may take the free port before the server does
            self.port = free_port()
            self.proc = subprocess.Popen(
                [path, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self._dir.name, "--loglevel", "warning", *args],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if self._wait_for_ping(time.monotonic() + timeout):
                self.url = f"redis://127.0.0.1:{self.port}/0"
                return
            self.stop()
        raise RuntimeError("redis-server did not answer PING on 127.0.0.1")

    def _wait_for_ping(self, deadline: float) -> bool:
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16)[:1] in (b"+", b"-"):  # PONG, or NOAUTH with a password
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL after 5 s."""
        stop_process(self.proc)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
