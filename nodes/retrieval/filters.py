"""Metadata filters: checking one, narrowing a node's fixed filter by a run's, and the key
that groups the runs of a micro-batch that search with the same filter.

A filter maps metadata keys to a value (equality) or a list of values (any of them); keys
are ANDed. `RowTable.mask` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Filter", "check_filter", "filter_key", "narrow"]

Filter = dict[str, Any]
_SCALARS = (str, int, float, bool, type(None))
_LISTS = (list, tuple, set, frozenset)


def check_filter(value: Any) -> Filter | None:
    """`value` as a filter (lists kept as lists, sets made lists; None or {} for none), or a
    ValueError saying what is wrong with it."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"a filter is a mapping of metadata keys to values, like "
                         f"{{\"source\": [\"a.md\"]}}; got {type(value).__name__} {value!r:.80}")
    checked: Filter = {}
    for key, wanted in value.items():
        if not isinstance(key, str):
            raise ValueError(f"filter keys are metadata names (strings), not {key!r:.80}")
        options = list(wanted) if isinstance(wanted, _LISTS) else [wanted]
        for option in options:
            if not isinstance(option, _SCALARS):
                raise ValueError(f"filter '{key}' takes a value or a list of values (strings, "
                                 f"numbers, booleans, null), not {type(option).__name__} "
                                 f"{option!r:.80}")
        checked[key] = options if isinstance(wanted, _LISTS) else wanted
    return checked or None


def narrow(fixed: Filter | None, run: Filter | None) -> Filter | None:
    """The filter that keeps the rows both checked filters keep (a key in both keeps only
    the values both allow)."""
    if not fixed or not run:
        return fixed or run
    both = dict(fixed)
    for key, wanted in run.items():
        if key in both:
            allowed = both[key] if isinstance(both[key], list) else [both[key]]
            options = wanted if isinstance(wanted, list) else [wanted]
            wanted = [v for v in options if v in allowed]
        both[key] = wanted
    return both


def filter_key(value: Filter | None) -> str:
    """The same string for equal checked filters (runs with it search together)."""
    return repr(sorted(value.items())) if value else ""
