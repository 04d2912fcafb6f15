"""The engine: nodes (`node`) and their type names (`registry`), pipelines (`pipeline`)
compiled into plans (`plan`), and their execution (`runner` drives runs, `scheduler`
micro-batches calls, `calls` makes them, `retry` retries them, `memo` caches results,
`events` and `stats` report, `background` hosts the sync API's loop and its bridges). It
imports neither the pipeline-file format (`llmkit.spec`), nor the CLI, nor the node library:
pyproject.toml's import contracts (`.ci/lint-imports`) keep it so.
"""
