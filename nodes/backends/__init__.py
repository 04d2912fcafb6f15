"""Vendors' HTTP APIs (the plumbing is `llmkit.http`); the `web_search` node is in `nodes.py`."""
