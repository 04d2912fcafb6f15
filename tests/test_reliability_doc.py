"""docs/reliability.md names the test that proves each case: every one it names must exist,
so the table cannot point at a renamed or deleted test."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
# `path/file.py::test_name` names a file; a following `::test_other` is in the same file.
REFERENCE = re.compile(r"`(?:(?P<path>[\w/]+\.py))?::(?P<test>test_\w+)")


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) for every test reference in `text`, in order."""
    found, path = [], None
    for match in REFERENCE.finditer(text):
        path = match["path"] or path
        found.append((path, match["test"]))
    return found


def test_every_test_named_in_the_reliability_guide_exists():
    named = named_tests((ROOT / "docs" / "reliability.md").read_text())
    missing = [f"{path}::{test}" for path, test in named
               if not re.search(rf"^(async )?def {test}\(",
                                (ROOT / "tests" / path).read_text(), re.MULTILINE)]
    assert len(named) > 50 and not missing
