"""Retrieval: documents, embedders, indexes and the corpus; their nodes are in `nodes.py`."""
