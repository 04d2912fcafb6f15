"""The worker side: each worker process builds a recipe's pipeline (and opens its cache) once
and keeps it, then runs each block through it with `run_many`, so micro-batching and the
cache work inside the block. Blocks travel as pickled bytes: a list of 1,000 dicts costs
Dask ~30 ms to serialise item by item, one pickle ~2 ms (bench/scale.py)."""

from __future__ import annotations

import importlib
import os
import pickle
import threading
from collections import OrderedDict
from typing import Any

from llmkit.core.pipeline import Pipeline
from llmkit.core.stats import Profile
from llmkit.dask.recipe import Recipe
from llmkit.errors import LlmkitError, NodeError

__all__ = ["Failed", "run_block"]

_KEPT = 4  # pipelines a worker keeps built (a long-lived cluster serves several)
_built: OrderedDict[tuple[str, str | None], tuple[Pipeline, Any]] = OrderedDict()
_lock = threading.Lock()  # a worker with several threads builds each pipeline once


class Failed:
    """A block that could not run at all (the pipeline does not build on this worker):
    returned, not raised, so Dask does not retry what fails the same way every time."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def run_block(recipe: Recipe, payload: bytes, cache: str | None,
              options: dict[str, Any]) -> bytes:
    """Run the pickled list of inputs `payload`; the pickled (results, profile), or Failed."""
    try:
        p, store = _pipeline(recipe, cache)
    except (LlmkitError, ImportError, OSError) as exc:
        return pickle.dumps(Failed(exc))
    profile = Profile()
    results = p.run_many(pickle.loads(payload), on_error="return", cache=store,
                         profile=profile, **options)
    return pickle.dumps(([_portable(r) for r in results], profile), protocol=5)


def _pipeline(recipe: Recipe, cache: str | None) -> tuple[Pipeline, Any]:
    """This process's pipeline for `recipe` and its cache store, built on first use."""
    with _lock:
        key = (recipe.key, cache)
        if key in _built:
            _built.move_to_end(key)
            return _built[key]
        for module in recipe.modules:
            importlib.import_module(module)
        _built[key] = built = (_build(recipe), _open(cache))
        while len(_built) > _KEPT:
            _, (_, old) = _built.popitem(last=False)
            if old is not None:
                old.close()
        return built


def _build(recipe: Recipe) -> Pipeline:
    if recipe.spec is None:
        import cloudpickle

        return cloudpickle.loads(recipe.pickled)
    from llmkit.spec import load_pipeline

    # The client built this pipeline, importing whatever its types name: the worker may too.
    return load_pipeline(recipe.spec, allow_import=True, env={**os.environ, **recipe.env})


def _open(cache: str | None) -> Any:
    if cache is None:
        return None
    from llmkit.cache import open_cache

    return open_cache(cache)


def _portable(result: Any) -> Any:
    """A run's result as the client can unpickle it: a node's exception that cannot be
    pickled is replaced by a RuntimeError that says what it was."""
    if isinstance(result, NodeError):
        try:
            pickle.loads(pickle.dumps(result.cause))
        except Exception:
            cause = RuntimeError(f"{type(result.cause).__name__}: {result.cause}")
            return NodeError(result.node, cause, result.run)
    return result
