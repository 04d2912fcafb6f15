"""HashingEmbedder: deterministic everywhere, normalised, meaningful; the optional extra."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from llmkit.errors import MissingExtraError
from llmkit.nodes.retrieval.embedders import HashingEmbedder, SentenceTransformerEmbedder, tokenize

TEXTS = ["The quick brown fox jumps over the lazy dog.",
         "\uff26\uff55\uff4c\uff4c-width \uff34\uff25\uff38\uff34 and \ufb01 ligatures",
         "", "   ", "?!", "naïve café — 東京 2024", "a" * 3000]

SCRIPT = """
import hashlib, sys
from llmkit.nodes.retrieval.embedders import HashingEmbedder
texts = {texts!r}
print(hashlib.sha256(HashingEmbedder(dim=97).embed(texts).tobytes()).hexdigest())
"""


def digest(matrix: np.ndarray) -> str:
    return hashlib.sha256(matrix.tobytes()).hexdigest()


def test_deterministic_across_processes_and_hash_seeds():
    here = digest(HashingEmbedder(dim=97).embed(TEXTS))
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", SCRIPT.format(texts=TEXTS)], env=env,
                             capture_output=True, text=True, check=True, timeout=60)
        assert out.stdout.strip() == here


def test_shape_dtype_norms_and_empty_texts():
    emb = HashingEmbedder(dim=64)
    m = emb.embed(TEXTS)
    assert m.shape == (len(TEXTS), 64) and m.dtype == np.float32
    norms = np.linalg.norm(m, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 5, 6]], 1.0, rtol=1e-5)
    assert (norms[[2, 3, 4]] == 0).all()  # no word characters: the zero vector
    assert emb.embed([]).shape == (0, 64)
    with pytest.raises(TypeError):
        emb.embed("not a list")


def test_batching_does_not_change_rows():
    texts = [f"document number {i} about topic {i % 7}" for i in range(50)]
    whole = HashingEmbedder(batch_size=1000).embed(texts)
    parts = HashingEmbedder(batch_size=7).embed(texts)
    assert (whole == parts).all()
    assert (HashingEmbedder().embed(texts[3:4])[0] == whole[3]).all()


def test_normalisation_and_similarity():
    emb = HashingEmbedder()
    a, b, c, d = emb.embed(["The cat sat on the mat.", "A cat was sitting on the mat",
                            "Quarterly revenue grew in the semiconductor market",
                            "THE CAT SAT ON THE MAT"])
    assert a @ b > 0.3 > a @ c
    np.testing.assert_allclose(a @ d, 1.0, rtol=1e-5)  # case-insensitive
    assert tokenize("\uff26\uff49\uff4c\uff45 NAME_2")  # full-width "File" == ["file", "name_2"]


def test_fingerprint_names_the_params():
    fp = HashingEmbedder(dim=128, ngram_range=(2, 4)).llmkit_fingerprint()
    assert fp == {"type": "HashingEmbedder", "version": 2, "dim": 128, "ngram_range": [2, 4],
                  "word_ngram_range": [1, 2], "stop_words": True}
    assert fp != HashingEmbedder(dim=128).llmkit_fingerprint()
    assert fp != HashingEmbedder(dim=128, ngram_range=(2, 4), stop_words=False).llmkit_fingerprint()


def test_a_questions_framing_does_not_move_its_vector():
    emb = HashingEmbedder()
    framed, bare, alone = emb.embed(["What does the window bound?", "window bound", "what is it"])
    assert (framed == bare).all()
    assert np.linalg.norm(alone) > 0.99  # only stop words: they are kept, not the zero vector
    kept = HashingEmbedder(stop_words=False).embed(["What does the window bound?", "window bound"])
    assert kept[0] @ kept[1] < 0.9


def test_bad_params():
    with pytest.raises(ValueError):
        HashingEmbedder(dim=0)
    with pytest.raises(ValueError):
        HashingEmbedder(ngram_range=(4, 3))


def test_sentence_transformers_is_an_optional_extra():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match=r"llmkit\[sentence-transformers\]"):
            SentenceTransformerEmbedder("any-model")
    else:  # pragma: no cover - only where the extra is installed
        pytest.skip("sentence-transformers installed; loading a model needs the network")
