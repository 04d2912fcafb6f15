"""Run a pipeline's many inputs on a Dask cluster: `DaskExecutor` (`executor`) cuts the input
stream into blocks (`blocks`), ships the pipeline once per worker as its spec (`recipe`),
where each worker builds and keeps it (`worker`), keeps a bounded number of blocks in flight
(`stream`) on a client it is given, connects or starts (`cluster`). docs/dask.md.

Only this package imports Dask; the engine knows executors by duck type
(`Pipeline.run_many(inputs, executor=...)`)."""

from llmkit.dask.executor import DEFAULT_BLOCK_SIZE, DaskExecutor

__all__ = ["DEFAULT_BLOCK_SIZE", "DaskExecutor"]
