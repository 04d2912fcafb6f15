"""llmkit: a dataflow engine for LLM work.

Pipelines of nodes (embed → search → build_context → generate) that run concurrently,
micro-batch the items of many runs into one call, and cache every node's results.
Names are imported on first use, so `import llmkit` (and `llmkit --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BackendError": "llmkit.errors",
    "CacheError": "llmkit.errors",
    "Event": "llmkit.core.events",
    "FunctionNode": "llmkit.core.node",
    "InputError": "llmkit.errors",
    "LlmkitError": "llmkit.errors",
    "MemoryCache": "llmkit.cache",
    "MissingExtraError": "llmkit.errors",
    "Node": "llmkit.core.node",
    "NodeError": "llmkit.errors",
    "Pipeline": "llmkit.core.pipeline",
    "PipelineError": "llmkit.errors",
    "Profile": "llmkit.core.stats",
    "RAGChain": "llmkit.rag",
    "Retry": "llmkit.core.node",
    "RetryableError": "llmkit.errors",
    "SQLiteCache": "llmkit.cache",
    "Settings": "llmkit.core.node",
    "SpecError": "llmkit.errors",
    "TieredCache": "llmkit.cache",
    "Uncached": "llmkit.core.node",
    "WebSearch": "llmkit.web",
    "dump_pipeline": "llmkit.spec",
    "load_pipeline": "llmkit.spec",
    "node": "llmkit.core.node",
    "open_cache": "llmkit.cache",
    "register": "llmkit.core.registry",
    "register_resource": "llmkit.core.registry",
}

__all__ = [
    "BackendError",
    "CacheError",
    "Event",
    "FunctionNode",
    "InputError",
    "LlmkitError",
    "MemoryCache",
    "MissingExtraError",
    "Node",
    "NodeError",
    "Pipeline",
    "PipelineError",
    "Profile",
    "RAGChain",
    "Retry",
    "RetryableError",
    "SQLiteCache",
    "Settings",
    "SpecError",
    "TieredCache",
    "Uncached",
    "WebSearch",
    "dump_pipeline",
    "load_pipeline",
    "node",
    "open_cache",
    "register",
    "register_resource",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from llmkit.cache import MemoryCache, SQLiteCache, TieredCache, open_cache
    from llmkit.core.events import Event
    from llmkit.core.node import FunctionNode, Node, Retry, Settings, node
    from llmkit.core.pipeline import Pipeline
    from llmkit.core.registry import register, register_resource
    from llmkit.core.stats import Profile
    from llmkit.errors import (
        BackendError,
        CacheError,
        InputError,
        LlmkitError,
        MissingExtraError,
        NodeError,
        PipelineError,
        RetryableError,
        SpecError,
    )
    from llmkit.rag import RAGChain
    from llmkit.spec import dump_pipeline, load_pipeline
    from llmkit.web import WebSearch
