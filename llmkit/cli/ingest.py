"""`llmkit ingest`: which corpus to fill. Either the hashing one its options describe, or
a pipeline's own `corpus` resource (`--pipeline`), with that pipeline's embedder, chunking
and index path, so that the index it builds is the one the pipeline opens."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from llmkit.errors import LlmkitError

if TYPE_CHECKING:
    from llmkit.nodes.retrieval.corpus import Corpus

__all__ = ["DEFAULT_INDEX", "open_corpus"]

DEFAULT_INDEX = ".llmkit/index"
_CHUNKING = (("dim", "--dim"), ("chunk_size", "--chunk-size"), ("overlap", "--overlap"))


def open_corpus(args: argparse.Namespace) -> tuple[Corpus, str]:
    """The corpus to ingest into and the documents to ingest (`args` from the parser)."""
    from llmkit.nodes.retrieval.corpus import Corpus
    from llmkit.nodes.retrieval.embedders import HashingEmbedder

    if args.pipeline is None:
        if args.resource is not None:
            raise LlmkitError("--resource names a corpus of --pipeline: give the pipeline too")
        if args.path is None:
            raise LlmkitError("give the documents to index (PATH), or --pipeline FILE to "
                              "index its corpus's source")
        embedder = HashingEmbedder(dim=384 if args.dim is None else args.dim)
        corpus = Corpus(args.index or DEFAULT_INDEX, source=args.path, embedder=embedder,
                        chunk_size=800 if args.chunk_size is None else args.chunk_size,
                        overlap=120 if args.overlap is None else args.overlap,
                        rebuild=args.rebuild)
        return corpus, args.path
    given = [flag for name, flag in _CHUNKING if getattr(args, name) is not None]
    if given:
        raise LlmkitError(f"{', '.join(given)}: with --pipeline the embedder and chunking are "
                          "the pipeline's corpus's; drop the option or edit the pipeline")
    declared = _declared(args.pipeline, args.resource, args.allow_import)
    source = args.path or declared.source
    index = args.index or declared.path
    if source is None:
        raise LlmkitError(f"the corpus of {args.pipeline} has no 'source': give the documents "
                          "to index (PATH)")
    if index is None:
        raise LlmkitError(f"the corpus of {args.pipeline} has no 'path' (it lives in memory): "
                          "give the index directory with --index DIR")
    corpus = Corpus(index, source=str(source), embedder=declared.embedder,
                    chunk_size=declared.chunk_size, overlap=declared.overlap,
                    patterns=declared.patterns, ann=declared.ann,
                    embed_batch=declared.embed_batch, retries=declared.retries,
                    rebuild=args.rebuild)
    return corpus, str(source)


def _declared(pipeline: str, name: str | None, allow_import: bool) -> Corpus:
    """The corpus resource `name` of the pipeline file (or its only one)."""
    from llmkit.nodes.retrieval.corpus import Corpus
    from llmkit.spec import load_pipeline
    from llmkit.spec.resources import spec_of

    p = load_pipeline(pipeline, allow_import=allow_import)
    corpora: dict[str, Corpus] = {}
    for node in p.nodes.values():
        for value in node.params.values():
            spec = spec_of(value)
            if isinstance(value, Corpus) and spec is not None:
                corpora.setdefault(spec.name, value)
    if name is not None:
        if name not in corpora:
            raise LlmkitError(f"--resource {name}: {pipeline} has no corpus resource of that "
                              f"name (its corpora: {', '.join(corpora) or 'none'})")
        return corpora[name]
    if len(corpora) != 1:
        raise LlmkitError(f"{pipeline} uses {len(corpora) or 'no'} corpus resources"
                          + (f" ({', '.join(corpora)}): pick one with --resource NAME"
                             if corpora else ": nothing to ingest"))
    return next(iter(corpora.values()))
