"""The llmkit node library: loaders, splitters, embedders, indexes, generators."""
