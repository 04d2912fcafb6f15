"""The helper that makes a missing extra a skip locally and a failure under CI=true."""

import pytest

from tests.extras import require

# Catch both outcomes, so that a wrong one fails the test instead of skipping it.
OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)


def test_an_installed_module_is_returned(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert require("json").__name__ == "json"


@pytest.mark.parametrize(("ci", "outcome", "message"), [
    (None, pytest.skip.Exception, "no_such_extra_zz is not installed"),
    ("false", pytest.skip.Exception, "no_such_extra_zz is not installed"),
    ("true", pytest.fail.Exception, "CI=true requires every extra: no_such_extra_zz"),
])
def test_a_missing_extra_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome, message):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(OUTCOMES) as info:
        require("no_such_extra_zz")
    assert info.type is outcome
    assert message in str(info.value)
