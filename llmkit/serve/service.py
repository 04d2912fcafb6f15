"""What every handler reads: the pipelines by name, the cache, the limits, the metrics, and
whether the pipelines' resources are prepared (`/ready`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.core.resources import prepare_resources, resources
from llmkit.errors import NodeError, did_you_mean, one_line
from llmkit.serve.errors import ApiError
from llmkit.serve.limits import InFlight
from llmkit.serve.metrics import Metrics
from llmkit.spec import scrub_secrets

__all__ = ["Service"]

log = logging.getLogger("llmkit.serve")


class Service:
    """One app's state; `prepare` makes it ready."""

    def __init__(self, pipelines: Mapping[str, Pipeline], *, cache: Any, max_in_flight: int,
                 max_body: int, token: str | None) -> None:
        if max_body < 1:
            raise ValueError("max_body must be at least 1")
        self.pipelines = dict(pipelines)
        self.cache = cache
        self.max_body = max_body
        self.in_flight = InFlight(max_in_flight)
        self.metrics = Metrics(self.pipelines, cache, lambda: self.in_flight.count)
        self._token = token
        self.ready = False
        self.problem: str | None = None  # why the server is not ready

    def pipeline(self, name: str) -> Pipeline:
        """The pipeline called `name`, or a 404 naming the ones there are."""
        p = self.pipelines.get(name)
        if p is None:
            raise ApiError(404, "unknown_pipeline",
                           f"no pipeline '{name}'{did_you_mean(name, self.pipelines)}; the "
                           f"server runs: {', '.join(self.pipelines) or 'none'}")
        return p

    def scrub(self, text: str) -> str:
        """`text` without the secret values of any pipeline's file, nor the server's token."""
        for p in self.pipelines.values():
            text = scrub_secrets(p, text)
        return text.replace(self._token, "***") if self._token else text

    async def prepare(self) -> None:
        """Prepare every pipeline's resources (a corpus indexes its documents), one after
        the other; ready when all are, else `problem` says which failed."""
        for name, p in self.pipelines.items():
            try:
                await prepare_resources(resources(p.validate()))
            except NodeError as exc:
                self.problem = self.scrub(f"pipeline '{name}': {one_line(exc)}")
                log.error("not ready: %s", self.problem)
                return
        self.ready = True
