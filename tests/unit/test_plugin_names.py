"""Every filter and test plugin name has one home.

Ansible loads every file in plugins/filter (and plugins/test) and lets a later
file's name shadow an earlier one's without a word: two filters called
``worker_devices`` broke the split plan. Each name must be defined once.
"""

from __future__ import annotations

from collections import Counter

from pathlib import Path

import pytest
from plugin_loader import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("kind", "method"), [("filter", "filters"), ("test", "tests")])
def test_each_plugin_name_is_defined_once(kind: str, method: str) -> None:
    names: Counter[str] = Counter()
    for path in sorted((ROOT / "plugins" / kind).glob("*.py")):
        module = load(kind, path.stem)
        owner = getattr(module, "FilterModule" if kind == "filter" else "TestModule")
        names.update(list(getattr(owner(), method)()))
    assert [name for name, count in names.items() if count > 1] == []
