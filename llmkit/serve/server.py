"""Serving an app with uvicorn, as `llmkit serve` does: one process, or `workers` processes
sharing one listening socket (uvicorn's supervisor; each worker loads the pipelines and
batches its own requests). SIGTERM stops accepting, lets the requests in flight finish (up
to the request timeout), then the lifespan closes the cache; the exit is clean."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from llmkit.core.pipeline import Pipeline
from llmkit.serve.application import app

__all__ = ["TOKEN_ENV", "load", "serve", "worker_app"]

TOKEN_ENV = "LLMKIT_SERVE_TOKEN"
_OPTIONS_ENV = "LLMKIT_SERVE_OPTIONS"  # what a worker process builds its app from


def load(paths: Sequence[str | Path], allow_import: bool = False) -> list[Pipeline]:
    """The pipeline files, loaded; `allow_import` also lets them import the current folder's
    modules, as `python -m` would."""
    from llmkit.spec import load_pipeline

    if allow_import and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return [load_pipeline(path, allow_import=allow_import) for path in paths]


def _log_to_stderr() -> None:
    """Access lines and errors of `llmkit.serve` go to stderr, one per line."""
    logger = logging.getLogger("llmkit.serve")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _app(pipelines: list[Pipeline], options: dict[str, Any]) -> ASGIApp:
    from llmkit.cache import open_cache

    cache = open_cache(options["cache"]) if options["cache"] else None
    return app(pipelines, cache=cache, token=os.environ.get(TOKEN_ENV) or None,
               max_in_flight=options["max_in_flight"], timeout=options["timeout"],
               max_body=options["max_body"])


def worker_app() -> ASGIApp:
    """The app of one worker process (uvicorn's factory), from the parent's options."""
    options = json.loads(os.environ[_OPTIONS_ENV])
    _log_to_stderr()
    return _app(load(options["paths"], options["allow_import"]), options)


class _Server(uvicorn.Server):
    """Says where it listens once it does."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.announce()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self._captured_signals.clear()  # a graceful SIGTERM exit is 0: uvicorn re-raises it


def serve(pipelines: list[Pipeline], paths: Sequence[str | Path], *, host: str, port: int,
          workers: int = 1, cache: str | None = None, token: str | None = None,
          max_in_flight: int, timeout: float | None, max_body: int,
          allow_import: bool = False) -> None:
    """Serve until SIGTERM or Ctrl-C, printing `llmkit serve: listening on URL` to stderr
    once the socket accepts. `pipelines` are the loaded `paths` (workers load them again)."""
    options = {"paths": [str(p) for p in paths], "allow_import": allow_import, "cache": cache,
               "max_in_flight": max_in_flight, "timeout": timeout, "max_body": max_body}
    if token:
        os.environ[TOKEN_ENV] = token  # the workers read it there, never from a command line
    settings: dict[str, Any] = {
        "host": host, "port": port, "log_level": "warning", "access_log": False,
        "lifespan": "on", "timeout_graceful_shutdown": None if timeout is None else timeout + 5}
    _log_to_stderr()
    if workers == 1:
        config = uvicorn.Config(_app(pipelines, options), **settings)
    else:
        os.environ[_OPTIONS_ENV] = json.dumps(options)
        config = uvicorn.Config("llmkit.serve.server:worker_app", factory=True,
                                workers=workers, **settings)
    sock = config.bind_socket()
    sock.listen(2048)  # connections wait in the backlog until a worker accepts them
    url = f"http://{host}:{sock.getsockname()[1]}"

    def announce() -> None:
        print(f"llmkit serve: listening on {url}", file=sys.stderr, flush=True)

    if workers == 1:
        _Server(config, announce).run(sockets=[sock])
    else:
        from uvicorn.supervisors import Multiprocess

        announce()
        Multiprocess(config, sockets=[sock]).run()
