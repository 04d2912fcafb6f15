"""Generation: context, prompt templates, the extractive generator; their nodes in `nodes.py`."""
