"""Run N tiny inputs through `iter_many` on the LocalCluster a `DaskExecutor` starts (its
scheduler runs in this process); print this process's RSS (MiB) after `first` inputs and at
the end: `python -m tests.dask.memory_probe N first`."""

from __future__ import annotations

import sys

import psutil

from llmkit.dask import DaskExecutor
from llmkit.spec import load_pipeline
from tests.dask.nodes import ECHO


def main(total: int, first: int) -> None:
    p = load_pipeline(ECHO)
    me = psutil.Process()
    inputs = ({"x": f"{i:0>200}"} for i in range(total))  # 200-byte texts, made lazily
    with DaskExecutor() as executor:
        marks = []
        for n, result in enumerate(p.iter_many(inputs, executor=executor), 1):
            assert result["y"][-6:] == f"{n - 1:0>6}"[-6:]
            if n in (first, total):
                marks.append(me.memory_info().rss / 2**20)
    print(*marks)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
