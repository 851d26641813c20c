"""molecule/shared/labhosts.py: a group the inventory lacks is an error, never an empty parametrization."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "molecule" / "shared"))

import labhosts  # noqa: E402


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(
        "llama_cluster:\n"
        "  children:\n"
        "    llama_workers:\n"
        "      hosts: {spark: {}, spark2: {}}\n"
        "    llama_heads:\n"
        "      hosts: {studio: {}}\n"
        "empty_group:\n"
        "  hosts: {}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(hosts))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    labhosts._inventory.cache_clear()
    yield hosts
    labhosts._inventory.cache_clear()


def test_a_group_lists_its_hosts_and_its_childrens(inventory: Path) -> None:
    assert labhosts.group("llama_workers") == ["spark", "spark2"]
    assert labhosts.group("llama_cluster") == ["spark", "spark2", "studio"]


@pytest.mark.parametrize("name", ["llama_worker", "empty_group"])
def test_a_missing_or_empty_group_is_an_error(inventory: Path, name: str) -> None:
    with pytest.raises(LookupError, match=f"inventory group '{name}' has no hosts in {inventory}"):
        labhosts.group(name)
