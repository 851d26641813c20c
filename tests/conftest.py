"""Every test under tests/: a skip under CI=true is a failure (ci_skips.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ci_skips import pytest_configure, pytest_runtest_makereport  # noqa: E402,F401 - pytest finds the hooks here
