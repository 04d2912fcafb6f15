"""Run outputs as JSON: what `json.dumps` cannot encode by itself (numpy arrays, sets,
dataclasses), for the CLI's records and the server's responses alike."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """`json.dumps` default: arrays and numpy scalars as lists and numbers, sets as lists,
    bytes as text, dataclasses as objects, anything else as its `str`."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)
