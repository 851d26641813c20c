"""Roles meet only at documented doors.

No role, playbook or test fixture outside a role reads that role's private
``__<role>_`` names, and no role finds the controller's folders by climbing
out of its own ``role_path``. The checks read the files as text, so they fail
on the first line that breaks the rule, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
PRIVATE = re.compile(r"__([a-z][a-z0-9_]*)")


def _owner(name: str) -> str | None:
    """The role whose private prefix ``name`` (without its leading __) carries; the longest wins."""
    owners = [role for role in ROLES if name.startswith(role + "_")]
    return max(owners, key=len) if owners else None


def _text_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml", ".j2", ".py", ".md"})


def _foreign_names(path: Path, own_role: str | None) -> list[str]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in PRIVATE.finditer(line):
            owner = _owner(match.group(1))
            if owner is not None and owner != own_role:
                found.append(f"{path.name}:{number}: __{match.group(1)} belongs to role {owner}")
    return found


def test_the_roles_are_found() -> None:
    assert {"cluster", "service_unit", "rpc_server", "llama_server", "llama_cpp"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_roles_private_names(role: str) -> None:
    offences = [o for path in _text_files(ROOT / "roles" / role) for o in _foreign_names(path, role)]
    assert offences == []


@pytest.mark.parametrize("folder", ["playbooks", "molecule", "tests/integration"])
def test_playbooks_and_tests_read_no_private_names(folder: str) -> None:
    offences = [o for path in _text_files(ROOT / folder) for o in _foreign_names(path, None)]
    assert offences == []


def test_the_rule_catches_a_foreign_name_and_spares_its_own(tmp_path: Path) -> None:
    probe = tmp_path / "probe.yml"
    probe.write_text("when: __service_unit_restarted and __llama_server_x and __cluster_check_y\n", encoding="utf-8")
    assert _foreign_names(probe, "llama_server") == [
        "probe.yml:1: __service_unit_restarted belongs to role service_unit",
        "probe.yml:1: __cluster_check_y belongs to role cluster_check",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_a_role_does_not_climb_out_of_its_role_path(role: str) -> None:
    climbing = re.compile(r"role_path\s*\|\s*dirname")
    offences = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _text_files(ROOT / "roles" / role)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if climbing.search(line)
    ]
    assert offences == []
