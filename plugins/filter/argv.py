"""What may go into a service's command line, unit file and environment.

``owned_flags`` finds the extra arguments that repeat a flag a role sets
itself (the last ``--host`` wins, so an extra one would silently move the
RPC server off its link address). ``unsafe_values`` finds values that would
break out of a unit line or a plist string: a newline starts a new systemd
directive, other control characters have no business there either.
Standard library only, so unit tests need no Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def owned_flags(args: Iterable[Any], owned: Iterable[str]) -> list[str]:
    """The flags in ``args`` that are in ``owned``, in order, once each.

    ``--port=1234`` counts as ``--port``; values that merely look like a flag
    after a flag are still flags, since llama.cpp's parsers read them so.
    """
    owned_set = set(owned)
    found: list[str] = []
    for arg in args:
        flag = str(arg).split("=", 1)[0]
        if flag in owned_set and flag not in found:
            found.append(flag)
    return found


def unsafe_values(values: Mapping[str, Any] | Iterable[Any], prefix: str = "") -> list[str]:
    """Where ``values`` hold a control character: the keys of a mapping, or ``[index]`` of a list.

    Keys are checked as well as values. The values themselves are never
    returned, so a secret's name can be reported without its content.
    """
    where: list[str] = []
    if isinstance(values, Mapping):
        for key, value in values.items():
            if _CONTROL.search(str(key)) or _CONTROL.search(str(value)):
                where.append(f"{prefix}{key!s}".encode("unicode_escape").decode())
    else:
        for index, value in enumerate(values):
            if _CONTROL.search(str(value)):
                where.append(f"{prefix}[{index}]")
    return where


class FilterModule:
    """Service argv and environment safety."""

    def filters(self) -> dict:
        return {
            "owned_flags": owned_flags,
            "unsafe_values": unsafe_values,
        }
