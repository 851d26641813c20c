"""Filters of the llama_cpp role: build time, build info, RPC protocol, stamp agreement.

``rpc_header_protocol`` is the RPC probe's own header parser
(plugins/module_utils/rpc_probe.py), loaded by path so that there is one
parser and this file stays importable without Ansible. Standard library only.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

UNVERSIONED = "unversioned"
NO_STAMP = "(no stamp)"
BUILD_INFO_FIELDS = ("LLAMA_BUILD_NUMBER", "LLAMA_COMMIT", "LLAMA_COMPILER", "LLAMA_BUILD_TARGET")

# str(datetime.timedelta), as the command module reports `delta`:
# "0:01:02.345678", and "1 day, 2:03:04.500000" past a day.
_DELTA_RE = re.compile(r"^(?:(?P<days>\d+) days?, )?(?P<h>\d+):(?P<m>[0-5]?\d):(?P<s>[0-5]?\d(?:\.\d+)?)$")
# common/build-info.cpp.in: `int LLAMA_BUILD_NUMBER = 123;`, `char const * LLAMA_COMMIT = "abc1234";`
_BUILD_INFO_RE = re.compile(
    r"\b(?P<key>{})\s*=\s*(?:\"(?P<quoted>[^\"]*)\"|(?P<bare>[^;\s]+))\s*;".format("|".join(BUILD_INFO_FIELDS))
)


def _load_rpc_probe() -> ModuleType:
    name = "llama_cluster_rpc_probe"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "module_utils" / "rpc_probe.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up in sys.modules while it loads.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_RPC_PROBE = _load_rpc_probe()


def sum_deltas(deltas: Iterable[str]) -> float:
    """``['0:00:10.25', '0:01:02.5']`` (command results' ``delta``) -> ``72.8`` seconds, to 0.1 s."""
    total = 0.0
    for delta in deltas:
        match = _DELTA_RE.match(str(delta).strip())
        if not match:
            raise ValueError(f"{delta!r} is not a duration of the form H:MM:SS.ffffff")
        total += int(match.group("days") or 0) * 86400 + int(match.group("h")) * 3600
        total += int(match.group("m")) * 60 + float(match.group("s"))
    return round(total, 1)


def build_info_fields(text: str) -> dict[str, str]:
    """The LLAMA_BUILD_NUMBER, LLAMA_COMMIT, LLAMA_COMPILER and LLAMA_BUILD_TARGET of a generated build-info.cpp.

    Only the fields the text defines are returned; values are strings.
    """
    return {
        match.group("key"): match.group("quoted") if match.group("quoted") is not None else match.group("bare")
        for match in _BUILD_INFO_RE.finditer(text)
    }


def rpc_header_protocol(text: str, header: str = "ggml-rpc.h") -> str:
    """ggml-rpc.h text -> ``"M.m.p"``; ``unversioned`` when it has none of the RPC_PROTO_*_VERSION defines.

    A header with only some of the defines raises ValueError naming ``header``.
    """
    return str(_RPC_PROBE.parse_header_version(text, name=header, unversioned=UNVERSIONED))


def _value(stamp: Any, key: str) -> Any:
    if isinstance(stamp, Mapping) and stamp.get(key) is not None:
        return stamp[key]
    return NO_STAMP


def stamp_disagreements(hosts: Sequence[str], stamps: Sequence[Any], keys: Sequence[str]) -> list[str]:
    """One ``"key: host=value, ..."`` line per key on which the hosts' stamps differ.

    ``stamps[i]`` is the stamp of ``hosts[i]``. A host without a stamp, or
    whose stamp lacks the key, shows ``(no stamp)`` and always counts as a
    disagreement: agreement must be proven by every host.
    """
    if len(hosts) != len(stamps):
        raise ValueError(f"{len(hosts)} hosts but {len(stamps)} stamps")
    found = []
    for key in keys:
        values = [_value(stamp, key) for stamp in stamps]
        if NO_STAMP in values or len({str(value) for value in values}) > 1:
            found.append("{}: {}".format(key, ", ".join(f"{host}={value}" for host, value in zip(hosts, values))))
    return found


class FilterModule:
    """llama_cpp role helpers."""

    def filters(self) -> dict:
        return {
            "sum_deltas": sum_deltas,
            "build_info_fields": build_info_fields,
            "rpc_header_protocol": rpc_header_protocol,
            "stamp_disagreements": stamp_disagreements,
        }
