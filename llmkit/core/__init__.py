"""The engine: nodes (`node`), pipelines compiled into plans (`pipeline`, `plan`), and their
execution (`runner` drives runs, `scheduler` micro-batches calls, `calls` makes them, `memo`
caches results, `events` and `stats` report). It imports neither the pipeline-file format
(`llmkit.spec`), nor the CLI, nor the node library (`llmkit.nodes`); `.importlinter` rules in
pyproject.toml keep it so.
"""
