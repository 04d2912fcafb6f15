"""The client side of blocks: the input stream cut into numbered blocks of `size` runs, each
run's inputs checked here (a run that cannot start fails with the InputError the local runner
gives it, numbered in the whole stream, and is never shipped), and a block's results merged
back in input order."""

from __future__ import annotations

import pickle
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from llmkit.core.runner import input_mismatch
from llmkit.errors import InputError

__all__ = ["Block", "cut"]


@dataclass
class Block:
    """Runs `start` to `start + size - 1`: `payload` (the pickled inputs that can run) and the
    `refused` runs' errors by index."""

    start: int
    size: int
    payload: bytes
    refused: dict[int, InputError] = field(default_factory=dict)

    def results(self, ran: list[Any]) -> Iterator[tuple[int, Any]]:
        """(index, result) for every run of the block, given the results of those that ran."""
        shipped = iter(ran)
        for index in range(self.start, self.start + self.size):
            yield index, self.refused[index] if index in self.refused else next(shipped)


def cut(inputs: Iterable[Any], size: int, names: Collection[str]) -> Iterator[Block]:
    """`inputs` as blocks of `size` runs of a pipeline taking the inputs `names`, read lazily."""
    source, start = iter(inputs), 0
    while chunk := list(islice(source, size)):
        refused: dict[int, InputError] = {}
        runnable = []
        for index, item in enumerate(chunk, start):
            problem = _problem(item, names, index)
            if problem is None:
                runnable.append(item if type(item) is dict else dict(item))
            else:
                refused[index] = problem
        yield Block(start, len(chunk), pickle.dumps(runnable, protocol=5), refused)
        start += len(chunk)


def _problem(item: Any, names: Collection[str], index: int) -> InputError | None:
    """The local runner's check of one run's inputs, with its messages."""
    if not isinstance(item, Mapping):
        return InputError(f"run {index}: inputs must be a mapping, not {type(item).__name__}")
    problem = input_mismatch(names, item)
    return InputError(f"run {index}: {problem}") if problem else None
