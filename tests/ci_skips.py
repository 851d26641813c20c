"""Under CI=true a skipped test fails, unless it is marked may_skip.

A test that skips because its tool, binary or package is missing would pass
CI silently; CI installs everything, so there a skip means the test did not
run. ``@pytest.mark.may_skip(reason)`` marks the few skips no machine can
lift (a non-root check on a root machine). ``pytest -rs`` lists every skip.
Loaded by the conftest files of tests/ and of the molecule scenarios.
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "may_skip(reason): a skip CI accepts, because no machine can lift it")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # noqa: ARG001 - the hook's signature
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    if item.get_closest_marker("may_skip"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, where every test must run (mark it may_skip if no machine can): {reason}"
