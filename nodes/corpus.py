"""A folder of documents as a persisted, searchable index: chunks with their vectors and
their terms, refreshed incrementally from the folder.

On disk a corpus is one directory (`vectors/`, `bm25/`, `manifest.msgpack`) replaced
atomically on every save, so an interrupted ingest leaves the previous index readable.
The manifest records, per source file, its content hash and chunk ids (unchanged files are
skipped on the next ingest), the embedder that made the vectors, and the chunking settings.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from llmkit.errors import LlmkitError
from llmkit.nodes.bm25 import BM25Index
from llmkit.nodes.documents import DEFAULT_PATTERNS, find_files, load_files, split
from llmkit.nodes.embedders import HashingEmbedder
from llmkit.nodes.vector_index import (
    IndexLoadError,
    VectorIndex,
    corrupt,
    load_index_dir,
    save_index_dir,
)

__all__ = ["Corpus", "IngestReport"]

log = logging.getLogger("llmkit.corpus")

_MANIFEST = "manifest.msgpack"
_EMBED_BATCH = 256


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} "
                f"removed, {self.unchanged} unchanged files; {self.chunks} chunks indexed; "
                f"{len(self.problems)} files skipped")


class Corpus:
    """The index at `path` (None: in memory only), optionally built from and kept in step
    with `source`.

    `ann` (e.g. `{"m": 32, "ef_search": 128}`) switches vector search to the approximate
    `HNSWIndex` (the `faiss` extra), for corpora past a few million chunks.
    `embedder` (default: the offline hashing embedder) embeds chunks; queries must be
    embedded by the same one, which is why pipelines share it as a resource. With a `source`,
    the corpus brings itself in step with it on first use (a search, its length, its
    fingerprint), so loading or validating a pipeline never embeds anything; `refresh()`
    checks the source again later.
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, source: str | None = None,
                 embedder: Any = None, chunk_size: int = 800, overlap: int = 120,
                 patterns: Sequence[str] = DEFAULT_PATTERNS,
                 ann: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.source = source
        self.embedder = embedder if embedder is not None else HashingEmbedder()
        self.chunk_size, self.overlap, self.patterns = chunk_size, overlap, tuple(patterns)
        self.ann = dict(ann) if ann is not None else None
        self._lock = threading.Lock()  # one ingest at a time
        self._first_use = threading.Lock()
        self._fresh = source is None
        self._files: dict[str, dict[str, Any]] = {}
        self._signature = ""
        self._mismatch = False
        if source is not None:
            find_files(source, self.patterns)  # a source that names nothing fails here, not later
        self.vectors, self.keywords = self._open()

    # -- identity -------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        return {"embedder": self.embedder.llmkit_fingerprint(), "chunk_size": self.chunk_size,
                "overlap": self.overlap}

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """Changes whenever the indexed content does: search results are cached on it."""
        self._ready()
        return {"vectors": self.vectors.content_version,
                "keywords": self.keywords.content_version, **self._settings()}

    def __len__(self) -> int:
        self._ready()
        return len(self.vectors)

    def _ready(self) -> None:
        """On first use, ingest what changed in the source since the index was saved."""
        if self._fresh:
            return
        with self._first_use:
            if not self._fresh:
                self.refresh()
                self._fresh = True

    # -- opening and saving -----------------------------------------------------------------
    def _open(self) -> tuple[VectorIndex, BM25Index]:
        """The saved index, or an empty one when nothing was saved yet."""
        if self.path is None:
            return self._empty()
        try:
            directory = load_index_dir(self.path)
        except IndexLoadError:
            return self._empty()
        if not any(directory.iterdir()):
            return self._empty()  # a directory made for the index, not yet written
        try:
            manifest = msgpack.unpackb((directory / _MANIFEST).read_bytes())
            vectors = self._vector_class().load(directory / "vectors", **(self.ann or {}))
            keywords = BM25Index.load(directory / "bm25")
        except Exception as exc:
            error = exc if isinstance(exc, IndexLoadError) else corrupt(directory, exc)
            if self.source is None:
                raise error from None
            log.warning("%s; rebuilding it from %s", error, self.source)
            return self._empty()
        if manifest.get("settings") != self._settings():
            # Built with another embedder or chunking: unusable for these queries. The next
            # ingest rebuilds it; a search before that says so.
            self._mismatch = True
            return self._empty()
        self._files = manifest["files"]
        self._signature = manifest.get("signature", "")
        return vectors, keywords

    def _empty(self) -> tuple[VectorIndex, BM25Index]:
        self._files, self._signature = {}, ""
        # A remote embedder may learn its dimension from its first answer: `_add` then
        # replaces this empty placeholder with an index of the right width.
        return self._new_vectors(getattr(self.embedder, "dim", None) or 1), BM25Index()

    def _vector_class(self) -> type[VectorIndex]:
        if self.ann is None:
            return VectorIndex
        from llmkit.nodes.ann import HNSWIndex

        return HNSWIndex

    def _new_vectors(self, dim: int) -> VectorIndex:
        return self._vector_class()(dim, **(self.ann or {}))

    def _save(self) -> None:
        if self.path is None:
            return
        manifest = {"settings": self._settings(), "files": self._files,
                    "signature": self._signature}

        def write(tmp: Path) -> None:
            self.vectors.save(tmp / "vectors")
            self.keywords.save(tmp / "bm25")
            (tmp / _MANIFEST).write_bytes(msgpack.packb(manifest))

        save_index_dir(self.path, write)

    # -- ingesting --------------------------------------------------------------------------
    def refresh(self) -> IngestReport | None:
        """Ingest the source again if any of its files changed since the last ingest."""
        if self.source is None or self._source_signature(self.source) == self._signature:
            return None
        return self.ingest(self.source)

    def _source_signature(self, source: str) -> str:
        """A cheap fingerprint of the source's files: names, sizes and modification times."""
        try:
            _, files = find_files(source, self.patterns)
        except FileNotFoundError:
            return "missing"
        h = hashlib.blake2b(digest_size=16)
        for file in files:
            stat = file.stat()
            h.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        return h.hexdigest()

    def ingest(self, source: str | os.PathLike[str]) -> IngestReport:
        """Bring the index in step with the folder, file or glob `source`: new and changed
        files are split, embedded and indexed, removed files leave, unchanged files (same
        content hash) are skipped. The result is saved atomically."""
        with self._lock:
            signature = self._source_signature(str(source))
            loaded = load_files(source, self.patterns)
            report = self._update(loaded.documents, loaded.problems)
            self._signature = signature
            self._mismatch = False
            self._save()
            return report

    def ingest_documents(self, documents: Sequence[str | Mapping[str, Any]]) -> IngestReport:
        """Like `ingest`, for texts or `{"text", "source"}` dicts given directly."""
        docs = []
        for i, doc in enumerate(documents):
            doc = {"text": doc} if isinstance(doc, str) else dict(doc)
            doc.setdefault("source", doc.get("id", f"doc-{i}"))
            doc.setdefault("id", doc["source"])
            doc.setdefault("format", "txt")
            doc["sha256"] = hashlib.sha256(doc["text"].encode()).hexdigest()
            docs.append(doc)
        with self._lock:
            report = self._update(docs, [])
            self._mismatch = False
            self._save()
            return report

    def _update(self, documents: list[dict[str, Any]],
                problems: list[dict[str, str]]) -> IngestReport:
        report = IngestReport(problems=problems)
        seen = set()
        fresh: list[dict[str, Any]] = []
        stale: list[str] = []
        for doc in documents:
            seen.add(doc["source"])
            known = self._files.get(doc["source"])
            if known is not None and known["sha256"] == doc["sha256"]:
                report.unchanged += 1
                continue
            (report.updated if known else report.added).append(doc["source"])
            if known:
                stale.extend(known["chunks"])
            chunks = split(doc, self.chunk_size, self.overlap)
            self._files[doc["source"]] = {"sha256": doc["sha256"],
                                          "chunks": [c["id"] for c in chunks]}
            fresh.extend(chunks)
        for gone in sorted(set(self._files) - seen):
            report.removed.append(gone)
            stale.extend(self._files.pop(gone)["chunks"])
        if stale:
            self.vectors.delete(stale)
            self.keywords.delete(stale)
        self._add(fresh)
        report.chunks = len(fresh)
        return report

    def _add(self, chunks: list[dict[str, Any]]) -> None:
        batches = [chunks[i:i + _EMBED_BATCH] for i in range(0, len(chunks), _EMBED_BATCH)]
        matrices = self._embed([[c["text"] for c in batch] for batch in batches])
        for batch, matrix in zip(batches, matrices, strict=True):
            ids = [c["id"] for c in batch]
            metadata = [{k: v for k, v in c.items() if k != "id"} for c in batch]
            if not len(self.vectors) and self.vectors.dim != matrix.shape[1]:
                self.vectors = self._new_vectors(matrix.shape[1])
            self.vectors.add(ids, matrix, metadata)
            self.keywords.add(ids, [c["text"] for c in batch], metadata)

    def _embed(self, batches: list[list[str]]) -> list[np.ndarray]:
        """One matrix per batch of texts. An async-only (HTTP) embedder runs on a loop of
        its own in a helper thread: ingest may be reached from inside an event loop (the
        first search), which must not wait on itself."""
        if hasattr(self.embedder, "embed"):
            return [np.asarray(self.embedder.embed(texts)) for texts in batches]

        async def embed_all() -> list[np.ndarray]:
            try:
                return [np.asarray(await self.embedder.aembed(texts)) for texts in batches]
            finally:
                await self.embedder.aclose()

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, embed_all()).result()

    # -- searching --------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """Top-k chunks per query vector (one batched product for all of them)."""
        self._ready()
        self._check_usable()
        return self.vectors.search(vectors, k, filter)

    def keyword_search(self, queries: Sequence[str], k: int,
                       filter: Mapping[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """Top-k chunks per query by BM25."""
        self._ready()
        self._check_usable()
        return self.keywords.search(queries, k, filter)

    def _check_usable(self) -> None:
        if self._mismatch:
            raise LlmkitError(
                f"the index at '{self.path}' was built with another embedder or chunking than "
                "this pipeline uses: re-run `llmkit ingest` with the pipeline's settings")
