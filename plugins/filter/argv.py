"""What may go into a service's command line, unit file and environment.

``owned_flags`` finds the extra arguments that repeat a flag a role sets
itself (the last ``--host`` wins, so an extra one would silently move the
RPC server off its link address), in the spellings the program reads as
that flag. ``unknown_flags`` finds the extra arguments a program with a
fixed, exact-match parser would not accept (rpc-server answers one with its
usage and exit status 0). ``unsafe_values`` finds values that would break
out of a unit line or a plist string: a newline starts a new systemd
directive, other control characters have no business there either.
Standard library only, so unit tests need no Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _spelling(flag: str, normalise_underscores: bool) -> str:
    """``flag`` as the program looks it up.

    llama.cpp's common parser turns every ``_`` of an argument that starts
    with ``--`` into ``-`` before it looks the flag up, and leaves short flags
    alone: ``std::replace(arg.begin(), arg.end(), '_', '-')`` in
    ``parse_cli_args`` of ``common_params_parse_ex`` (common/arg.cpp:824 at
    the pinned 0c1e570) and again in ``common_params_to_map``
    (common/arg.cpp:1217). rpc-server compares each argument whole
    (tools/rpc/rpc-server.cpp:109-156).
    """
    if normalise_underscores and flag.startswith("--"):
        return flag.replace("_", "-")
    return flag


def owned_flags(args: Iterable[Any], owned: Iterable[str], *, normalise_underscores: bool) -> list[str]:
    """The flags in ``args`` that are in ``owned``, in order, once each, as written.

    ``--port=1234`` counts as ``--port`` (neither parser at the pin accepts
    that form, but a later one might, and refusing it costs nothing). An
    argument that is really the value of the flag before it (``--alias
    --port``) counts too: telling values from flags would need every flag's
    arity, and a flag's name is no value worth passing.
    With ``normalise_underscores``, a long flag matches in any mix of ``_``
    and ``-`` (``--api_key`` is ``--api-key``), as llama-server reads it;
    without it, only the exact spelling does, as rpc-server reads it.
    """
    owned_set = {_spelling(flag, normalise_underscores) for flag in owned}
    found: list[str] = []
    for arg in args:
        flag = str(arg).split("=", 1)[0]
        if _spelling(flag, normalise_underscores) in owned_set and flag not in found:
            found.append(flag)
    return found


def unknown_flags(args: Iterable[Any], known: Iterable[str], with_value: Iterable[str] = ()) -> list[str]:
    """The arguments in ``args`` that are not a flag in ``known``, in order, once each, as written.

    Read as rpc-server's parser reads its arguments (tools/rpc/rpc-server.cpp,
    ``rpc_server_params_parse``): each one whole, with no ``--flag=value`` form
    and no ``_`` spelling, and every argument is a flag except the one after a
    flag in ``with_value``, which is that flag's value.
    """
    known_set = set(known)
    takes_value = set(with_value)
    found: list[str] = []
    values = iter(str(arg) for arg in args)
    for arg in values:
        if arg in takes_value:
            next(values, None)
        elif arg not in known_set and arg not in found:
            found.append(arg)
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
            "unknown_flags": unknown_flags,
            "unsafe_values": unsafe_values,
        }
