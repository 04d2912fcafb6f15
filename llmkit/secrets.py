"""Recognise secret-bearing names and keep their values out of keys, logs and output."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SECRET = re.compile(
    r"(^|_)(api_?key|apikey|token|password|passwd|secret|credentials?|auth(orization)?|"
    r"private_?key|access_?key)($|_)",
    re.IGNORECASE,
)
REDACTED = "***"


def is_secret_name(name: str) -> bool:
    """True for names like `api_key`, `OPENAI_API_KEY`, `token`, `db_password`."""
    return bool(_SECRET.search(name))


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `mapping` (recursively) whose secret-named values are replaced by ***."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if is_secret_name(str(key)) and value is not None:
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        else:
            out[key] = value
    return out


def without_secrets(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `mapping` without its secret-named entries (for cache fingerprints)."""
    return {
        k: (without_secrets(v) if isinstance(v, Mapping) else v)
        for k, v in mapping.items()
        if not is_secret_name(str(k))
    }
