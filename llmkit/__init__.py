"""llmkit: a dataflow engine for LLM work."""
