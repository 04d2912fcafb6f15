"""What a worker needs to build a pipeline: its YAML spec (or, when it has none, the pickled
pipeline), the modules that define its node classes, and the environment overrides; made
once on the client and sent once to each worker, never per block."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmkit.core.pipeline import Pipeline
from llmkit.errors import PipelineError
from llmkit.secrets import REDACTED
from llmkit.spec import dump_pipeline

__all__ = ["Recipe", "recipe_of"]


@dataclass(frozen=True)
class Recipe:
    """A pipeline as shipped: `spec` (YAML text) or `pickled` (cloudpickle bytes), the
    `modules` a worker imports first (they register the node types), `env` overrides for
    `${VAR}` references, and `key`, which names the pipeline a worker builds from it."""

    key: str
    spec: str | None = None
    pickled: bytes | None = None
    modules: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def recipe_of(p: Pipeline, env: Mapping[str, str] | None = None) -> Recipe:
    """The recipe of `p`: its spec when `dump_pipeline` can write it whole (no function
    nodes, no secret given in clear, which a dump writes as ***), else `p` cloudpickled."""
    env = dict(env or {})
    modules = tuple(sorted({type(node).__module__ for node in p.nodes.values()
                            if not type(node).__module__.startswith("llmkit.")}
                           - {"__main__"}))
    try:
        spec: str | None = dump_pipeline(p)
    except PipelineError:
        spec = None
    if spec is not None and REDACTED not in spec:
        return Recipe(_key(spec.encode(), modules, env), spec=spec, modules=modules, env=env)
    pickled = _cloudpickle(p)
    return Recipe(_key(pickled, modules, env), pickled=pickled, modules=modules, env=env)


def _cloudpickle(p: Pipeline) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(p)
    except Exception as exc:
        raise PipelineError(
            f"pipeline '{p.name}' cannot be sent to Dask workers: it has no complete YAML "
            f"spec (dump_pipeline) and cannot be pickled ({type(exc).__name__}: {exc}); "
            "build it from a pipeline file") from exc


def _key(payload: bytes, modules: tuple[str, ...], env: Mapping[str, str]) -> str:
    digest = hashlib.sha256(payload)
    for part in (*modules, *(f"{k}={v}" for k, v in sorted(env.items()))):
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:24]
