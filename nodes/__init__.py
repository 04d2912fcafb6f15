"""The llmkit node library, by family; `library.py` registers every node and resource type.

- `retrieval/`: documents, embedders, indexes (vector, BM25, ANN), the corpus, and their
  nodes (`load_files`, `split`, `ingest`, `embed`, `search`, `keyword_search`, `fuse`).
- `generation/`: context building, the extractive generator, prompt templates, and their
  nodes (`prompt`, `build_context`, `generate`, `aggregate`).
- `backends/`: vendors' HTTP APIs (OpenAI-compatible, Ollama, SearxNG) and the `web_search`
  node; the plumbing they share is `llmkit.http`.
- `protocols.py`: what nodes ask of embedders, chat models, generators and indexes;
  `common.py`: what the families share.

A new node type goes in its family's `nodes.py` with `@register("name")`; a new component
(index, embedder, store) beside it in that family; a new backend in `backends/` as a subclass
of `HttpEmbedder` or `HttpChat`, registered as a resource in `library.py`.
"""
