"""Testinfra access to a scenario's lab hosts, as its inventory names them.

Molecule exports MOLECULE_INVENTORY_FILE; the inventory directory beside it
also holds the linked hosts file and group_vars, so ``ansible-inventory``
returns the same variables the playbooks saw.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import testinfra
import yaml

REPO = Path(__file__).resolve().parents[2]
# A commit as CMake writes it into a binary: `git rev-parse --short HEAD`
# (7 or more hex digits), ggml adding -dirty for a modified tree.
_COMMIT_STRING = re.compile(r"^(?P<commit>[0-9a-f]{7,40})(?:-dirty)?$")


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


def _members(data: dict[str, Any], name: str) -> set[str]:
    found: set[str] = set(data.get(name, {}).get("hosts", []))
    for child in data.get(name, {}).get("children", []):
        found |= _members(data, child)
    return found


def group(name: str) -> list[str]:
    """Hosts of an inventory group, children included, sorted.

    A missing, misnamed or empty group is an error, not an empty list: tests
    parametrized over it would be collected as skipped, and pass.
    """
    found = _members(_inventory(), name)
    if not found:
        raise LookupError(f"inventory group {name!r} has no hosts in {os.environ['MOLECULE_INVENTORY_FILE']}")
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
    return testinfra.get_host(f"podman://{hostvars(name)['lab_container']}")


def reports_dir() -> Path:
    """Where this scenario's playbooks wrote their reports."""
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"


@functools.cache
def pinned_commit() -> str:
    """llama_cpp_commit from roles/llama_cpp/defaults/main.yml, the one place the pin is written."""
    defaults = yaml.safe_load((REPO / "roles" / "llama_cpp" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    return str(defaults["llama_cpp_commit"])


def embedded_commits(name: str, path: str) -> set[str]:
    """The commit-like C strings a binary on the host carries, as ``strings`` would show them.

    A static llama.cpp binary holds ggml's GGML_COMMIT (and, where it links
    common, LLAMA_COMMIT): the short hash CMake read from the tree's git HEAD.
    Returned without a -dirty suffix; other hex-only strings may come along.
    """
    data = connect(name).file(path).content
    found = set()
    for run in re.split(rb"[^\x20-\x7e]+", data):
        match = _COMMIT_STRING.match(run.decode("ascii"))
        if match:
            found.add(match.group("commit"))
    return found
