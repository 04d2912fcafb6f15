"""Embeddings of the wrong shape are a BackendError that says what to do (a retry would get the
same), and per-token vectors, as llama.cpp's server sends them without pooling, can be pooled
here with `pooling="mean"`."""

from __future__ import annotations

import numpy as np
import pytest

from llmkit.core.pipeline import Pipeline
from llmkit.errors import BackendError, LlmkitError, RetryableError
from llmkit.nodes.backends.ollama import OllamaEmbedder
from llmkit.nodes.backends.openai import OpenAIEmbedder
from llmkit.nodes.retrieval.nodes import Embed
from tests.servers.fake_llm import fake_vector

pytestmark = pytest.mark.anyio

TEXTS = ["bees make honey", "tides", "glaciers move slowly downhill"]


def embedder(server, transport, **options) -> OpenAIEmbedder:
    return OpenAIEmbedder("fake-model", base_url=f"{server.url}/v1", transport=transport,
                          **options)


async def test_per_token_vectors_are_not_retryable_and_say_how_to_pool(fake_server, transport):
    fake_server.control.config(pooling="none")
    async with embedder(fake_server, transport) as model:
        with pytest.raises(BackendError) as caught:
            await model.aembed(TEXTS)
    message = str(caught.value)
    assert type(caught.value) is BackendError and "\n" not in message
    assert "returned one vector per token, not one per text" in message
    assert "llama-server --pooling mean" in message and "pooling: mean" in message


async def test_pooling_mean_averages_per_token_vectors_to_unit_length(fake_server, transport):
    fake_server.control.config(pooling="none")
    async with embedder(fake_server, transport, pooling="mean") as model:
        vectors = await model.aembed(TEXTS)
    means = np.array([np.mean([fake_vector(w, 16) for w in t.split()], axis=0) for t in TEXTS])
    expected = (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 16)


async def test_pooling_leaves_pooled_vectors_alone(fake_server, transport):
    async with embedder(fake_server, transport, pooling="mean") as model:
        vectors = await model.aembed(TEXTS)
    np.testing.assert_array_equal(vectors, np.array([fake_vector(t, 16) for t in TEXTS],
                                                    dtype=np.float32))


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_embed_node_does_not_retry_per_token_vectors(fake_server, anyio_backend):
    fake_server.control.config(pooling="none")
    model = OpenAIEmbedder("fake-model", base_url=f"{fake_server.url}/v1")
    p = Pipeline("embed", inputs=["text"])
    p.add("embed", Embed(model), text="text")
    p.outputs(vector="embed.vector")
    try:
        with pytest.raises(LlmkitError, match=r"BackendError: .* one vector per token"):
            await p.arun({"text": "bees make honey"})
    finally:
        await model.aclose()
    assert fake_server.control.stats()["requests"] == {"/v1/embeddings": 1}


@pytest.mark.parametrize(("body", "error", "says"), [
    ({"data": [{"embedding": [1.0, 2.0]}, {"embedding": [1.0]}]}, BackendError,
     "rows of different sizes for 2 texts"),
    ({"data": [{"embedding": [1.0, 2.0]}]}, BackendError, "1 embeddings for 2 texts"),
    ({"data": [{"index": 5, "embedding": [1.0]}, {"embedding": [1.0]}]}, BackendError,
     "2 embeddings for 2 texts"),
    ({"error": {"message": "overloaded"}}, RetryableError, "the server said: overloaded"),
])
def test_wrong_shapes_are_backend_errors_and_non_answers_retryable(body, error, says):
    model = OpenAIEmbedder("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(error) as caught:
        model._vectors(body, 2)
    assert type(caught.value) is error and says in str(caught.value)


def test_ollama_vectors_of_the_wrong_shape_are_backend_errors():
    model = OllamaEmbedder("m", base_url="http://127.0.0.1:9")
    with pytest.raises(BackendError, match=r"shape \(2,\) for 2 texts"):
        model._vectors({"embeddings": [1.0, 2.0]}, 2)


def test_pooling_is_in_the_fingerprint_only_when_set():
    assert "pooling" not in OpenAIEmbedder("m", base_url="http://h/v1").llmkit_fingerprint()
    pooled = OpenAIEmbedder("m", base_url="http://h/v1", pooling="mean")
    assert pooled.llmkit_fingerprint()["pooling"] == "mean"
    with pytest.raises(ValueError, match="pooling must be 'mean' or None"):
        OpenAIEmbedder("m", base_url="http://h/v1", pooling="max")
