"""Evaluation sets: JSONL, one question per line, read whole and checked before anything
runs, so that a bad line is one error naming `FILE:LINE`.

    {"id": "cache-1", "question": "How are results cached?",
     "sources": ["cache.md"], "answers": ["per node"]}

`question` is required; `id` defaults to the line number; `sources` (gold sources: ids,
paths or substrings of them) and `answers` (acceptable gold facts) are optional lists of
strings; `split` (optional) names the part of the set a question belongs to ("holdout"),
so a run can take one part. Other keys (a note) are the set's own labels: the metrics ignore
them, but a key one typo away from a known one (`answer`) is an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from llmkit.errors import InputError, did_you_mean

__all__ = ["Example", "load_dataset"]

KEYS = ("id", "question", "sources", "answers", "split")


@dataclass(frozen=True)
class Example:
    """One labelled question."""

    id: str
    question: str
    sources: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    split: str | None = None


def load_dataset(path: str | os.PathLike[str], limit: int | None = None,
                 split: str | None = None) -> list[Example]:
    """The examples of a JSONL file (the first `limit` of those labelled `split`, when
    given); an `InputError` at `FILE:LINE` for the first line that is not one."""
    examples: list[Example] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, 1):
            if limit is not None and len(examples) >= limit:
                break
            if not raw.strip():
                continue
            where = f"{os.fspath(path)}:{number}"
            example = _example(raw, where, number)
            if example.id in seen:
                raise InputError(f"{where}: id {example.id!r} is already used on line "
                                 f"{seen[example.id]}; give each question its own id")
            seen[example.id] = number
            if split is None or example.split == split:
                examples.append(example)
    if not examples and split is not None:
        raise InputError(f"{os.fspath(path)}: no question has \"split\": \"{split}\"")
    if not examples:
        raise InputError(f"{os.fspath(path)}: no questions (expected one JSON object per line, "
                         'e.g. {"question": "...", "sources": ["file.md"]})')
    return examples


def _example(raw: bytes, where: str, number: int) -> Example:
    try:
        item = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text") from None
    except ValueError as exc:
        raise InputError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected a JSON object, not {type(item).__name__}")
    for key in item:
        if key not in KEYS and (hint := did_you_mean(key, KEYS)):  # a typo, not a label
            raise InputError(f"{where}: unknown key {key!r}{hint}; a question has "
                             f"{', '.join(KEYS)} (and any labels of your own)")
    question = item.get("question")
    if not isinstance(question, str) or not question.strip():
        raise InputError(f"{where}: 'question' must be a non-empty string")
    ident = item.get("id", number)
    if not isinstance(ident, (str, int)) or isinstance(ident, bool):
        raise InputError(f"{where}: 'id' must be a string or a number")
    split = item.get("split")
    if split is not None and not isinstance(split, str):
        raise InputError(f"{where}: 'split' must be a string")
    return Example(str(ident), question, _strings(item, "sources", where),
                   _strings(item, "answers", where), split)


def _strings(item: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where}: {key!r} must be a list of non-empty strings")
    return tuple(value)
