"""Pytest plugin: under ``CI=true`` a skip is a failure, unless the test cannot apply here.

On a developer's machine a skip is information (no ../shared, no Chromium, no
notebook extra); in CI the same skip would pass a run that tested nothing: 224
tests skipped silently without ../shared. So in CI every skip becomes a failure
that says why, except for the reasons in ``NOT_APPLICABLE``: tests that cannot
mean anything on this machine, whatever is installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

NOT_APPLICABLE = (
    "PICFIND_TEST_ES_URL is not set",  # Elasticsearch tests run only when a node is named
    "pillow_heif is installed",  # checks the message given when HEIC is *not* supported
    "root reads files whatever their mode",  # a permission test cannot fail as root
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A prerequisite is missing: a failure in CI, a skip elsewhere."""
    if in_ci():
        pytest.fail(f"missing in CI (CI=true): {reason}", pytrace=False)
    pytest.skip(reason)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if any(text in reason for text in NOT_APPLICABLE):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where a missing prerequisite fails: {reason}"
