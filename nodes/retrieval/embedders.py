"""Text embedders: NumPy feature hashing (offline default) and sentence-transformers (extra).

Also home of the one word tokenizer (`tokenize`) that BM25, the extractive generator and the
context builder share with the hashing embedder, so "a word" means the same thing everywhere.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from llmkit.errors import require_extra
from llmkit.nodes.retrieval.stopwords import content_words

__all__ = ["HashingEmbedder", "SentenceTransformerEmbedder", "identifier_parts",
           "lexical_words", "normalize_text", "tokenize"]

_WORD = re.compile(r"\w+")
# A word with an inner boundary: camelCase, HTTPServer, snake_case, letters against digits.
_IDENTIFIER = re.compile(r"(?<!\w)\w*?(?:[a-z][A-Z]|[A-Z][A-Z][a-z]|[^\W\d_]\d|\d[^\W\d_]|_)\w*")


def normalize_text(text: str) -> str:
    """NFKC-normalise and lowercase, so full-width and ligature forms match their plain letters."""
    return unicodedata.normalize("NFKC", text).lower()


def tokenize(text: str) -> list[str]:
    """Words of `text`: runs of Unicode word characters after `normalize_text`."""
    return _WORD.findall(normalize_text(text))


def identifier_parts(text: str) -> list[str]:
    """The parts of `text`'s identifier-like words, lowercased: `BM25Index(k1=1.5)` gives
    bm, 25, index, k, 1; `max_chars` gives max, chars; plain words give nothing."""
    text = unicodedata.normalize("NFKC", text)
    return [part.lower() for word in _IDENTIFIER.findall(text) for part in _split(word)]


def _split(word: str) -> list[str]:
    """One identifier cut at underscores, lower-to-upper case changes, the last capital of
    a run of capitals before lowercase (HTTP|Server) and letter/digit changes."""
    parts, start = [], 0
    for i in range(1, len(word) + 1):
        if i < len(word):
            a, b, c = word[i - 1], word[i], word[i + 1:i + 2]
            if not ("_" in (a, b) or a.isdigit() != b.isdigit()
                    or (b.isupper() and not a.isupper())
                    or (a.isupper() and b.isupper() and c.isalpha() and not c.isupper())):
                continue
        if word[start:i].strip("_"):
            parts.append(word[start:i].strip("_"))
        start = i
    return parts


def lexical_words(text: str) -> list[str]:
    """`tokenize(text)` followed by its identifier parts: what BM25 and the extractive
    answerer compare (the lexical reranker keeps whole words), so "BM25" finds `BM25Index`
    and "chars" finds `max_chars` while the whole identifier still matches itself."""
    return tokenize(text) + identifier_parts(text)


# Polynomial hashing over code points, mod 2**64 (NumPy uint64 arithmetic wraps). With prefix
# sums G[k] = sum_{j<k} c[j] * P**-j, the hash of any span [a, b) is P**(b-1) * (G[b] - G[a]):
# one vectorised expression for every char n-gram, word and word bigram of a whole batch.
_P = 0x100000001B3  # the FNV-64 prime; odd, so it has an inverse mod 2**64
_P_INV = pow(_P, -1, 2**64)
_KIND_SALT = {"char": 0x9E3779B97F4A7C15, "word": 0xC2B2AE3D27D4EB4F, "bigram": 0x165667B19E3779F9}


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) mod 2**64 as uint64."""
    out = np.full(n, base, dtype=np.uint64)
    if n:
        out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _salted(poly: np.ndarray, kind: str) -> np.ndarray:
    """Final 64-bit feature hashes of spans of one kind (char n-gram, word, bigram)."""
    return _fmix64(poly ^ np.uint64(_KIND_SALT[kind]))


class HashingEmbedder:
    """Signed feature hashing of char n-grams plus word n-grams into `dim` float32 columns.

    Deterministic across processes and machines (integer hashing of code points, never
    Python's `hash()`), needs no model, and embeds a whole batch in a few NumPy passes.
    Rows are L2-normalised with sublinear term frequency (sign * (1 + log|count|)). A text
    with no word characters (empty, whitespace or punctuation only) embeds to the zero vector.
    Char n-grams run over the normalised words joined by single spaces, so they also see word
    boundaries; word n-grams never cross texts. With `stop_words` (the default) the function
    words of `stopwords.STOP_WORDS` are left out first: a question's framing ("what does
    the... how do I...") would otherwise put more n-grams in its vector than its subject.
    """

    version = 2  # 2: stop words left out

    def __init__(self, dim: int = 384, ngram_range: tuple[int, int] = (3, 5),
                 word_ngram_range: tuple[int, int] = (1, 2), batch_size: int = 256,
                 stop_words: bool = True) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        lo, hi = ngram_range
        wlo, whi = word_ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must satisfy 1 <= min <= max, got {ngram_range}")
        if not (wlo <= whi and wlo >= 1 and whi <= 2):
            raise ValueError(f"word_ngram_range must be within (1, 2), got {word_ngram_range}")
        self.dim = int(dim)
        self.ngram_range = (int(lo), int(hi))
        self.word_ngram_range = (int(wlo), int(whi))
        self.batch_size = int(batch_size)
        self.stop_words = bool(stop_words)

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What defines this embedder's output, for cache keys."""
        return {"type": type(self).__name__, "version": self.version, "dim": self.dim,
                "ngram_range": list(self.ngram_range),
                "word_ngram_range": list(self.word_ngram_range), "stop_words": self.stop_words}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, dim) float32 array, one L2-normalised row per text."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            block = texts[start:start + self.batch_size]
            out[start:start + len(block)] = self._embed_block(block)
        return out

    def _embed_block(self, texts: Sequence[str]) -> np.ndarray:
        n, dim = len(texts), self.dim
        docs = []
        for text in texts:
            words = content_words(tokenize(text)) if self.stop_words else tokenize(text)
            docs.append(" " + " ".join(words) + " " if words else "")
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=n)
        codes = np.frombuffer("".join(docs).encode("utf-32-le"), dtype=np.uint32)
        total = codes.size
        if total == 0:
            return np.zeros((n, dim), dtype=np.float32)
        ends = np.cumsum(lengths)
        doc_of = np.repeat(np.arange(n), lengths)
        end_of = np.repeat(ends, lengths)
        p_pow = _powers(_P, total)
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum(codes.astype(np.uint64) * _powers(_P_INV, total), out=prefix[1:])

        def span_hash(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
            return _salted(p_pow[b - 1] * (prefix[b] - prefix[a]), kind)

        features: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, text of each)
        lo, hi = self.ngram_range
        for size in range(lo, hi + 1):
            count = total - size + 1
            if count <= 0:
                continue
            inside = np.flatnonzero(np.arange(size, total + 1) <= end_of[:count])
            poly = p_pow[size - 1:total] * (prefix[size:] - prefix[:count])  # every span
            hashes = _salted(poly, "char")
            features.append((hashes[inside], doc_of[inside]))
        spaces = np.flatnonzero(codes == 32)
        word = np.flatnonzero(spaces[1:] > spaces[:-1] + 1)  # a word lies between two spaces
        starts, stops = spaces[word] + 1, spaces[word + 1]
        wdoc = doc_of[starts]
        wlo, whi = self.word_ngram_range
        if wlo <= 1:
            features.append((span_hash(starts, stops, "word"), wdoc))
        if whi >= 2:
            pair = np.flatnonzero(wdoc[1:] == wdoc[:-1])
            features.append((span_hash(starts[pair], stops[pair + 1], "bigram"), wdoc[pair]))
        hashes = np.concatenate([h for h, _ in features])
        owners = np.concatenate([d for _, d in features])
        # Map the top 32 hash bits onto [0, 2 * dim) (multiply-shift, no division): the low
        # half adds +1 to a column, the high half -1, so one plain bincount does both.
        slot = ((hashes >> np.uint64(32)) * np.uint64(2 * dim)) >> np.uint64(32)
        owners *= 2 * dim
        owners += slot.astype(np.int64)
        both = np.bincount(owners, minlength=n * 2 * dim).reshape(n, 2, dim)
        counts = (both[:, 0] - both[:, 1]).astype(np.float64)
        magnitude = np.abs(counts)
        np.log(magnitude, out=magnitude, where=magnitude > 0)
        magnitude += counts != 0
        counts = np.copysign(magnitude, counts)
        norms = np.linalg.norm(counts, axis=1, keepdims=True)
        np.divide(counts, norms, out=counts, where=norms > 0)
        return counts.astype(np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model behind the same `embed` interface (extra:
    `sentence-transformers`). The model loads on first use; rows are L2-normalised float32,
    and empty or whitespace-only texts embed to the zero vector as with `HashingEmbedder`.
    """

    version = 1

    def __init__(self, model_name: str = "sentence-transformers/all-MiniLM-L6-v2", *,
                 batch_size: int = 64, device: str | None = None) -> None:
        self._module = require_extra("sentence_transformers", "sentence-transformers")
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What defines this embedder's output, for cache keys."""
        return {"type": type(self).__name__, "version": self.version, "model": self.model_name}

    @property
    def model(self) -> Any:
        """The loaded model (loaded once, thread-safely, on first access)."""
        with self._lock:
            if self._model is None:
                self._model = self._module.SentenceTransformer(self.model_name, device=self.device)
            return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, dim) float32 array of L2-normalised rows."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keep = [i for i, text in enumerate(texts) if text.strip()]
        if keep:
            vectors = self.model.encode([texts[i] for i in keep], batch_size=self.batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True)
            out[keep] = np.asarray(vectors, dtype=np.float32)
        return out
