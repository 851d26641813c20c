"""Put the scenarios' shared test helpers on the path; a skip under CI=true fails (tests/ci_skips.py)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "molecule" / "shared"))
sys.path.insert(0, str(REPO / "tests"))

from ci_skips import pytest_configure, pytest_runtest_makereport  # noqa: E402,F401 - pytest finds the hooks here
