"""Optional extras in tests: a missing one skips the tests that need it on a developer's
machine, and fails them under `CI=true`, where every extra is installed on purpose."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module: str, extra: str = "dev") -> ModuleType:
    """Import `module` for a test (or a test module, at its top); skip when it is missing,
    except under CI=true, where a missing extra fails."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is not installed (pip install -e '.[{extra}]'): {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires every extra: {message}", pytrace=False)
        pytest.skip(message, allow_module_level=True)
