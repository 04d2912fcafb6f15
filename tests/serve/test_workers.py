"""`--workers N`: N processes answer on one port, and SIGTERM stops every one of them (the
supervisor exits 0 and leaves no process behind)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.serve.conftest import NAME, expected_outputs, wait_ready


def started(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), or None if there is none: a PID
    with another start time is another process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])  # a zombie is gone but for its PID


def descendants(pid: int) -> dict[int, int | None]:
    """Every process below `pid`, with its start time."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = {}, list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        found[child] = started(child)
        todo += parents.get(child, [])
    return found


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The process holding the server's end of the TCP connection from `client_port`."""
    inodes = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if int(line.split()[1].split(":")[1], 16) == server_port
              and int(line.split()[2].split(":")[1], 16) == client_port}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in {f"socket:[{inode}]" for inode in inodes}:
                    return pid
            except FileNotFoundError:
                continue
    return None


def test_two_workers_both_answer_and_sigterm_stops_them_all(start_serve, fake_server, rag_env,
                                                           tmp_path):
    question = "[workers] How do volcanoes relate to tides?"
    answer = expected_outputs(rag_env, tmp_path / "oracle", [question])[0]["answer"]
    server = start_serve("--workers", "2")
    wait_ready(server)  # (one worker's answer; each prepares its own resources)
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    workers = list(descendants(server.pid))
    assert len(workers) >= 2, workers
    # Open connections until each worker holds one (the kernel gives each new connection to
    # whichever worker accepts first); then each worker answers the question on its own.
    by_worker: dict[int, http.client.HTTPConnection] = {}
    opened = []
    deadline = time.monotonic() + 30
    while len(by_worker) < 2:
        assert time.monotonic() < deadline, f"one worker took every connection: {by_worker}"
        connection = http.client.HTTPConnection(host, port, timeout=30)
        opened.append(connection)
        connection.request("GET", "/ready")
        ready = connection.getresponse()
        ready.read()
        owner = connection_owner(port, connection.sock.getsockname()[1], workers)
        if ready.status == 200 and owner is not None:
            by_worker.setdefault(owner, connection)
    for connection in by_worker.values():
        connection.request("POST", f"/pipelines/{NAME}/run",
                           body=json.dumps({"question": question}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["outputs"]["answer"] == answer
    for connection in opened:
        connection.close()
    tree = descendants(server.pid)
    os.kill(server.pid, signal.SIGTERM)
    assert server.proc.wait(30) == 0, server.stderr()[-2000:]
    deadline = time.monotonic() + 5
    while left := alive(tree):
        if time.monotonic() > deadline:
            for pid in left:  # stopped by their PIDs, so a failure leaves no process behind
                os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"processes left behind: {sorted(left)}")
        time.sleep(0.05)


def alive(tree: dict[int, int | None]) -> set[int]:
    """The processes of `tree` (PID → start time) that still run."""
    return {pid for pid, start in tree.items() if start and started(pid) == start}
