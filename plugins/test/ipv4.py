"""IPv4 tests: ``addr is ipv4_cidr``, ``addr is in_ipv4_network('192.168.100.0/24')``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "llama_cluster_ipv4_filters", Path(__file__).resolve().parent.parent / "filter" / "ipv4.py"
)
_MOD = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MOD)


class TestModule:
    """IPv4 tests."""

    def tests(self) -> dict:
        return {"ipv4_cidr": _MOD.is_ipv4_cidr, "in_ipv4_network": _MOD.in_ipv4_network}
