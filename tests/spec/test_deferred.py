"""The HTTP backends are registered by import path and resolve to their classes on look-up,
so a pipeline file's params for them are still checked before anything is built."""

import pytest

from llmkit.core.registry import RESOURCE_TYPES
from llmkit.errors import SpecError
from llmkit.spec import catalog, load_pipeline

BACKENDS = {
    "openai_embedder": "llmkit.nodes.backends.openai:OpenAIEmbedder",
    "openai_chat": "llmkit.nodes.backends.openai:OpenAIChat",
    "ollama_embedder": "llmkit.nodes.backends.ollama:OllamaEmbedder",
    "ollama_chat": "llmkit.nodes.backends.ollama:OllamaChat",
    "searx": "llmkit.nodes.backends.websearch:SearxClient",
}


@pytest.mark.parametrize(("name", "path"), BACKENDS.items())
def test_a_deferred_backend_resolves_to_its_class_and_replaces_its_entry(name, path):
    module, _, qualname = path.partition(":")
    cls = getattr(pytest.importorskip(module), qualname)
    assert catalog.lookup_resource(name) is cls
    assert RESOURCE_TYPES[name] is cls


def test_a_deferred_backends_params_are_checked_where_the_file_names_them():
    text = """\
llmkit: 1
inputs: {question: str}
resources:
  llm: {type: openai_chat, modle: gpt}
nodes:
  generate: {type: generate, params: {llm: $llm}, inputs: {question: question}}
"""
    with pytest.raises(SpecError, match=r"^<string>:4:\d+: .*unknown param 'modle' "
                                        r"\(did you mean 'model'\?\)"):
        load_pipeline(text)
