"""Helpers for tests that render the roles' templates with Ansible's Templar and read systemd units."""

from __future__ import annotations

from typing import Any


def trust(value: Any) -> Any:
    """Mark strings from the role files as templates, as the variable manager does."""
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trust(item) for item in value]
    if isinstance(value, dict):
        return {key: trust(item) for key, item in value.items()}
    return value


def directives(unit: str) -> dict[str, list[str]]:
    """Each directive of a unit file with its values, in order; comments left out."""
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found
