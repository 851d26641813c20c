"""Testinfra access to a scenario's lab hosts, as its inventory names them.

Molecule exports MOLECULE_INVENTORY_FILE; the inventory directory beside it
also holds the linked hosts file and group_vars, so ``ansible-inventory``
returns the same variables the playbooks saw.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import testinfra


@functools.cache
def _inventory() -> dict[str, Any]:
    inventory_dir = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    out = subprocess.run(
        ["ansible-inventory", "-i", str(inventory_dir), "--list"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def group(name: str) -> list[str]:
    """Hosts of an inventory group, children included, sorted."""
    data = _inventory()
    found: set[str] = set(data.get(name, {}).get("hosts", []))
    for child in data.get(name, {}).get("children", []):
        found.update(group(child))
    return sorted(found)


def hostvars(name: str) -> dict[str, Any]:
    """The inventory variables of one host."""
    return _inventory()["_meta"]["hostvars"][name]


def address(name: str) -> str:
    """The host's link address without its prefix."""
    return hostvars(name)["direct_link_address"].split("/")[0]


@functools.cache
def connect(name: str) -> testinfra.host.Host:
    """A testinfra host for the inventory host, through podman exec."""
    return testinfra.get_host(f"podman://{hostvars(name)['ansible_host']}")


def reports_dir() -> Path:
    """Where this scenario's playbooks wrote their reports."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"
