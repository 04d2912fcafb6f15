"""A folder of documents as a persisted, searchable index: chunks with their vectors and
their terms, refreshed incrementally from the folder.

On disk a corpus is one directory (`vectors/`, `bm25/`, `manifest.msgpack` and the marker
`llmkit-index.msgpack`, see `index_dir`) replaced atomically on every save, so an interrupted
ingest leaves the previous index readable. The manifest records, per source file, its content
hash and chunk ids (unchanged files are skipped on the next ingest), the embedder that made
the vectors, and the chunking settings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgpack
import numpy as np

from llmkit.errors import LlmkitError
from llmkit.nodes.protocols import AsyncEmbedder, Embedder
from llmkit.nodes.retrieval.bm25 import TERMS_VERSION, BM25Index
from llmkit.nodes.retrieval.documents import (
    DEFAULT_PATTERNS,
    HEADING_WEIGHT,
    SPLIT_VERSION,
    file_problem,
    file_sha256,
    find_files,
    keyword_text,
    named_files,
    read_chunks,
    split,
    unsupported_files,
)
from llmkit.nodes.retrieval.embedders import HashingEmbedder
from llmkit.nodes.retrieval.index_dir import (
    IndexLoadError,
    IndexPathError,
    NoIndexError,
    check_replaceable,
    corrupt,
    load_index_dir,
    save_index_dir,
)
from llmkit.nodes.retrieval.skipped import skipped_summary
from llmkit.nodes.retrieval.vector_index import VectorIndex

__all__ = ["Corpus", "IngestReport"]

log = logging.getLogger("llmkit.corpus")

_MANIFEST = "manifest.msgpack"
_KIND = "corpus"


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


def _check_apart(index: Path, source: str | os.PathLike[str],
                 patterns: Sequence[str]) -> None:
    """Refuse an index path that is or lies in the documents (unless a hidden folder, which
    no source lists, holds it), or that holds them: a save replaces the whole index path."""
    root, _ = find_files(source, patterns)
    documents = Path(os.path.realpath(source if Path(source).is_file() else root))
    target = Path(os.path.realpath(index))
    if target == documents or documents in target.parents:
        inner = target.relative_to(documents).parts
        if not any(part.startswith(".") for part in inner):
            where = "is" if target == documents else "is inside"
            raise IndexPathError(f"the index path '{index}' {where} the documents "
                                 f"'{source}' it would index: choose an index path outside "
                                 "them (or in a hidden folder, such as .llmkit/index)")
    if target in documents.parents:
        raise IndexPathError(f"the index path '{index}' holds the documents '{source}': "
                             "choose an index path that does not contain them")


class Corpus:
    """The index at `path` (None: in memory only), optionally built from and kept in step
    with `source`.

    `ann` (e.g. `{"m": 32, "ef_search": 128}`) switches vector search to the approximate
    `HNSWIndex` (the `faiss` extra), for corpora past a few million chunks.
    `embedder` (default: the offline hashing embedder) embeds chunks, `embed_batch` at a
    time, retrying a batch up to `retries` times on a RetryableError (a 429 honours its
    Retry-After); queries must be embedded by the same embedder, which is why pipelines share
    it as a resource. With a `source`, the corpus brings itself in step with it when prepared
    (`llmkit_prepare()`: a run does it in a worker thread before its nodes read the corpus; a
    direct search or `len()` does it too), so loading or validating a pipeline, or taking the
    fingerprint, never embeds anything; `refresh()` checks the source again later, and a
    damaged index is rebuilt from it. `rebuild=True` ignores the saved index: the next ingest
    embeds everything again.
    An existing `path` that is not an llmkit index is refused (IndexPathError), never replaced.
    """

    path_params = ("path", "source")  # in a pipeline file, relative to the file's folder

    def __init__(self, path: str | os.PathLike[str] | None, *, source: str | None = None,
                 embedder: Embedder | AsyncEmbedder | None = None, chunk_size: int = 800,
                 overlap: int = 120, patterns: Sequence[str] = DEFAULT_PATTERNS,
                 ann: Mapping[str, Any] | None = None, embed_batch: int = 256,
                 retries: int = 3, rebuild: bool = False) -> None:
        if chunk_size < 1 or not 0 <= overlap < chunk_size or embed_batch < 1 or retries < 0:
            raise LlmkitError(f"a corpus needs chunk_size >= 1, 0 <= overlap < chunk_size, "
                              f"embed_batch >= 1 and retries >= 0; got chunk_size={chunk_size}"
                              f", overlap={overlap}, embed_batch={embed_batch}, "
                              f"retries={retries}")
        self.path = Path(path) if path is not None else None
        self.source = source
        self.embedder = embedder if embedder is not None else HashingEmbedder()
        self.chunk_size, self.overlap, self.patterns = chunk_size, overlap, tuple(patterns)
        self.ann = dict(ann) if ann is not None else None
        self.embed_batch, self.retries = embed_batch, retries
        self._lock = threading.Lock()  # one ingest at a time
        self._first_use = threading.Lock()
        self._fresh = source is None
        self._files: dict[str, dict[str, Any]] = {}
        self._signature = ""
        self._mismatch = False
        if source is not None:
            find_files(source, self.patterns)  # a source that names nothing fails here, not later
        if self.path is not None:
            if source is not None:
                _check_apart(self.path, source, self.patterns)
            check_replaceable(self.path, _KIND)
        self.vectors, self.keywords = self._empty() if rebuild else self._open()

    # -- identity -------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        return {"embedder": self.embedder.llmkit_fingerprint(), "chunk_size": self.chunk_size,
                "overlap": self.overlap, "split": SPLIT_VERSION, "terms": TERMS_VERSION,
                "headings": HEADING_WEIGHT}

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """Changes whenever the indexed content does: search results are cached on it. Reads
        only what is in memory: a run prepares the corpus before taking it."""
        return {"vectors": self.vectors.content_version,
                "keywords": self.keywords.content_version, **self._settings()}

    def __len__(self) -> int:
        self.llmkit_prepare()
        return len(self.vectors)

    @property
    def llmkit_prepared(self) -> bool:
        """Whether `llmkit_prepare` has nothing left to do (a run then skips it)."""
        return self._fresh

    def llmkit_prepare(self) -> None:
        """On first use, ingest what changed in the source since the index was saved (the
        resource protocol: a run calls it in a worker thread before its nodes read us)."""
        if self._fresh:
            return
        with self._first_use:
            if not self._fresh:
                self.refresh()
                self._fresh = True

    # -- opening and saving -----------------------------------------------------------------
    def _open(self) -> tuple[VectorIndex, BM25Index]:
        """The saved index, or an empty one when nothing was saved yet (or, with a source,
        when it is damaged: the next ingest rebuilds it)."""
        if self.path is None:
            return self._empty()
        try:
            directory = load_index_dir(self.path, _KIND)
            if not any(directory.iterdir()):
                return self._empty()  # a directory made for the index, not yet written
            manifest = msgpack.unpackb((directory / _MANIFEST).read_bytes())
            vectors = self._vector_class().load(directory / "vectors", **(self.ann or {}))
            keywords = BM25Index.load(directory / "bm25")
        except NoIndexError:
            return self._empty()
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, IndexLoadError) and exc.__cause__ else exc
            if self.source is None:
                raise corrupt(self.path, cause) from None
            log.warning("the index at '%s' is damaged (%s: %s); rebuilding it from %s",
                        self.path, type(cause).__name__, cause, self.source)
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
        # A remote embedder may learn its dimension from its first answer: `_apply` then
        # replaces this empty placeholder with an index of the right width.
        return self._new_vectors(getattr(self.embedder, "dim", None) or 1), BM25Index()

    def _vector_class(self) -> type[VectorIndex]:
        if self.ann is None:
            return VectorIndex
        from llmkit.nodes.retrieval.ann import HNSWIndex

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

        save_index_dir(self.path, write, _KIND)

    # -- ingesting --------------------------------------------------------------------------
    def refresh(self) -> IngestReport | None:
        """Ingest the source again if any of its files changed since the last ingest."""
        if self.source is None or self._source_signature(self.source) == self._signature:
            return None
        report = self.ingest(self.source)
        if report.problems:  # a run builds the index by itself: say what it left out
            log.warning("llmkit: warning: %s: %s", self.source,
                        skipped_summary(report.problems))
        return report

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
        content hash) are skipped. Files are hashed and split a block at a time. The result
        is saved atomically; a failed ingest changes nothing."""
        if self.path is not None:
            _check_apart(self.path, source, self.patterns)
        with self._lock:
            signature = self._source_signature(str(source))
            report = IngestReport()
            files: dict[str, dict[str, Any]] = {}
            fresh: list[dict[str, Any]] = []
            for name, file in named_files(source, self.patterns):
                known = self._files.get(name)
                try:
                    digest = file_sha256(file)
                    if known is not None and known["sha256"] == digest:
                        files[name] = known
                        report.unchanged += 1
                        continue
                    chunks = list(read_chunks(file, name, self.chunk_size, self.overlap))
                except (OSError, ValueError) as exc:
                    report.problems.append(file_problem(name, exc))
                    continue
                self._take(name, digest, chunks, files, fresh, report)
            report.problems.extend(unsupported_files(source, self.patterns))
            self._apply(files, fresh, report)
            self._signature = signature
            self._save()
            return report

    def ingest_documents(self, documents: Sequence[str | Mapping[str, Any]]) -> IngestReport:
        """Like `ingest`, for texts or `{"text", "source"}` dicts given directly."""
        with self._lock:
            report = IngestReport()
            files: dict[str, dict[str, Any]] = {}
            fresh: list[dict[str, Any]] = []
            for i, doc in enumerate(documents):
                doc = {"text": doc} if isinstance(doc, str) else dict(doc)
                doc.setdefault("source", doc.get("id", f"doc-{i}"))
                doc.setdefault("id", doc["source"])
                doc.setdefault("format", "txt")
                digest = hashlib.sha256(doc["text"].encode()).hexdigest()
                known = self._files.get(doc["source"])
                if known is not None and known["sha256"] == digest:
                    files[doc["source"]] = known
                    report.unchanged += 1
                    continue
                chunks = split(doc, self.chunk_size, self.overlap)
                self._take(doc["source"], digest, chunks, files, fresh, report)
            self._apply(files, fresh, report)
            self._save()
            return report

    def _take(self, name: str, digest: str, chunks: list[dict[str, Any]],
              files: dict[str, dict[str, Any]], fresh: list[dict[str, Any]],
              report: IngestReport) -> None:
        """Record a new or changed file and its chunks for `_apply`."""
        (report.updated if name in self._files else report.added).append(name)
        files[name] = {"sha256": digest, "chunks": [c["id"] for c in chunks]}
        fresh.extend(chunks)

    def _apply(self, files: dict[str, dict[str, Any]], fresh: list[dict[str, Any]],
               report: IngestReport) -> None:
        """Make the index hold `files`: embed the fresh chunks first (the step that can
        fail), then delete the chunks of changed and removed files and add the fresh ones."""
        kept = any(files.get(name) is known and known["chunks"]
                   for name, known in self._files.items())
        vectors = self._embed([c["text"] for c in fresh], self.vectors.dim if kept else None)
        report.removed.extend(sorted(set(self._files) - set(files)))
        stale = [id_ for name, known in self._files.items() if files.get(name) is not known
                 for id_ in known["chunks"]]
        if stale:
            self.vectors.delete(stale)
            self.keywords.delete(stale)
        if len(fresh) and not len(self.vectors) and self.vectors.dim != vectors.shape[1]:
            self.vectors = self._new_vectors(vectors.shape[1])
        for start in range(0, len(fresh), self.embed_batch):
            batch = fresh[start:start + self.embed_batch]
            ids = [c["id"] for c in batch]
            metadata = [{k: v for k, v in c.items() if k != "id"} for c in batch]
            self.vectors.add(ids, vectors[start:start + len(batch)], metadata)
            self.keywords.add(ids, [keyword_text(c["text"], c.get("section")) for c in batch],
                              metadata)
        self._files = files
        self._mismatch = False
        report.chunks = len(fresh)

    def _embed(self, texts: list[str], dim: int | None) -> np.ndarray:
        """The (n, dim) vectors of `texts`, embedded `embed_batch` at a time, each batch
        retried on a RetryableError; `dim`, when given, is the width they must have.

        The embedding runs on llmkit's background loop (`background.call`), from any thread and
        inside a running loop too; a sync embedder runs in a worker thread there.
        """
        from llmkit.core import background  # the event loop and the HTTP stack's retry
        from llmkit.http.retry import with_retries  # policy: imported only to embed

        out = np.empty((len(texts), dim or 0), dtype=np.float32)

        async def embed(batch: list[str]) -> np.ndarray:
            if isinstance(self.embedder, Embedder):
                vectors = await anyio.to_thread.run_sync(self.embedder.embed, batch)
                return np.asarray(vectors, dtype=np.float32)
            return np.asarray(await self.embedder.aembed(batch), dtype=np.float32)

        async def embed_all() -> None:
            nonlocal out
            for start in range(0, len(texts), self.embed_batch):
                batch = texts[start:start + self.embed_batch]
                matrix = await with_retries(lambda b=batch: embed(b), self.retries)
                if start == 0 and dim is None and matrix.ndim == 2:
                    out = np.empty((len(texts), matrix.shape[1]), dtype=np.float32)
                if matrix.shape != (len(batch), out.shape[1]):
                    raise LlmkitError(
                        f"the embedder returned an array of shape {matrix.shape} for "
                        f"{len(batch)} texts; expected ({len(batch)}, {out.shape[1]})")
                if not np.isfinite(matrix).all():
                    raise LlmkitError("the embedder returned NaN or infinite values")
                out[start:start + len(batch)] = matrix

        if texts:
            background.call(embed_all)
        return out

    # -- searching --------------------------------------------------------------------------
    def search(self, vectors: np.ndarray, k: int,
               filter: Mapping[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """Top-k chunks per query vector (one batched product for all of them)."""
        self.llmkit_prepare()
        self._check_usable()
        return self.vectors.search(vectors, k, filter)

    def keyword_search(self, queries: Sequence[str], k: int,
                       filter: Mapping[str, Any] | None = None) -> list[list[dict[str, Any]]]:
        """Top-k chunks per query by BM25."""
        self.llmkit_prepare()
        self._check_usable()
        return self.keywords.search(queries, k, filter)

    def _check_usable(self) -> None:
        if self._mismatch:
            raise LlmkitError(
                f"the index at '{self.path}' was built with another embedder or chunking than "
                "this pipeline uses: re-run `llmkit ingest` with the pipeline's settings")
