"""The one line that reports every file a load or an ingest skipped, grouped by why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

__all__ = ["skipped_summary"]

# How each kind of problem record reads in the summary ("2 unsupported", "1 binary").
_LABELS = {"unsupported": "unsupported", "unreadable": "unreadable", "encoding": "not UTF-8",
           "binary": "binary", "no text": "without text", "needs extra": "needing an extra"}


def _suffix(source: str) -> str:
    return PurePosixPath(source).suffix.lower() or PurePosixPath(source).name


def skipped_summary(problems: Sequence[Mapping[str, str]], shown: int = 3) -> str:
    """`skipped 3 files: 2 unsupported (.png, .zip), 1 unreadable (bad.pdf: encrypted)`,
    naming at most `shown` files per kind ("" when nothing was skipped)."""
    if not problems:
        return ""
    groups: dict[str, list[Mapping[str, str]]] = {}
    for problem in problems:
        groups.setdefault(problem.get("kind", "unreadable"), []).append(problem)
    parts = []
    for kind in sorted(groups, key=lambda k: k != "unsupported"):  # stable: else first seen
        group = groups[kind]
        if kind == "unsupported":
            names = sorted({_suffix(p["source"]) for p in group})
        else:
            names = [f"{p['source']}: {p.get('error', '')}" for p in group]
        more = f"; +{len(names) - shown} more" if len(names) > shown else ""
        listed = (", " if kind == "unsupported" else "; ").join(names[:shown])
        parts.append(f"{len(group)} {_LABELS.get(kind, kind)} ({listed}{more})")
    n = len(problems)
    return f"skipped {n} file{'s' if n != 1 else ''}: {', '.join(parts)}"
