"""Cluster filters: the head's RPC endpoints, the proof of remote layers, a build's binaries.

``rpc_endpoints`` is the one place that turns the worker inventory into the
``host:port`` list that llama-server's ``--rpc`` takes and cluster_check
probes. ``rpc_buffers`` reads llama-server's load log, where llama.cpp names
each buffer after its backend: ``RPC0[192.168.100.2:50052] model buffer size
= 120.56 MiB``. Standard library only, so unit tests need no Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_RPC_PORT = 50052

# src/llama-model.cpp: "%s: %12s model buffer size = %8.2f MiB"; the KV cache
# and compute buffers follow the same "<name> <kind> buffer size" pattern.
_BUFFER_RE = re.compile(
    r"(?P<device>RPC\d+)\[(?P<endpoint>[^\]\s]+)\]\s+(?P<kind>model|KV|compute|KV cache)?\s*buffer size\s*=\s*"
    r"(?P<mib>[0-9.]+)\s*MiB"
)
_OFFLOADED_RE = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
_BUILD_INFO_RE = re.compile(r"^b(?P<number>\d+)-(?P<commit>[0-9a-fA-F]+|unknown)$")


def _address(cidr: str) -> str:
    return str(cidr).split("/", 1)[0]


def rpc_endpoints(workers: Iterable[str], hostvars: Mapping[str, Any]) -> list[str]:
    """``['spark']`` -> ``['192.168.100.2:50052']`` from each worker's link address and rpc_server_port."""
    endpoints = []
    for worker in workers:
        host = hostvars[worker]
        port = host.get("rpc_server_port", DEFAULT_RPC_PORT)
        endpoints.append(f"{_address(host['direct_link_address'])}:{int(port)}")
    return endpoints


def rpc_buffers(log: str) -> list[dict[str, Any]]:
    """Every RPC buffer the load log names: device, endpoint, kind and MiB."""
    found = []
    for match in _BUFFER_RE.finditer(log):
        found.append({
            "device": match.group("device"),
            "endpoint": match.group("endpoint"),
            "kind": (match.group("kind") or "").strip() or "other",
            "mib": float(match.group("mib")),
        })
    return found


def rpc_model_mib(log: str) -> dict[str, float]:
    """Model weights per RPC endpoint, in MiB, summed over its devices."""
    totals: dict[str, float] = {}
    for buffer in rpc_buffers(log):
        if buffer["kind"] == "model":
            totals[buffer["endpoint"]] = round(totals.get(buffer["endpoint"], 0.0) + buffer["mib"], 2)
    return totals


def offloaded_layers(log: str) -> dict[str, int] | None:
    """``offloaded 19/19 layers to GPU`` -> ``{'offloaded': 19, 'total': 19}``; None when absent."""
    match = _OFFLOADED_RE.search(log)
    if not match:
        return None
    return {"offloaded": int(match.group(1)), "total": int(match.group(2))}


def build_commit(build_info: str) -> str:
    """``b1-0c1e570`` (llama-server /props build_info) -> ``0c1e570``; '' when the form is unknown."""
    match = _BUILD_INFO_RE.match(str(build_info).strip())
    return match.group("commit").lower() if match else ""


def stamp_binaries(stamp: Mapping[str, Any], install_dir: str) -> dict[str, str]:
    """Each tool of a llama_cpp stamp -> its path under ``<install_dir>/current/bin``.

    ``{'binaries': {'rpc_server': 'ggml-rpc-server'}}`` and ``/opt/llama.cpp``
    give ``{'rpc_server': '/opt/llama.cpp/current/bin/ggml-rpc-server'}``.
    """
    if not isinstance(stamp.get("binaries"), Mapping):
        raise ValueError("the stamp has no 'binaries' mapping")
    prefix = str(install_dir).rstrip("/") + "/current/bin/"
    return {str(tool): prefix + str(name) for tool, name in stamp["binaries"].items()}


def same_commit(short: str, full: str) -> bool:
    """True when ``short`` (at least 7 hex digits) is a prefix of the full commit ``full``."""
    short, full = str(short).lower(), str(full).lower()
    return len(short) >= 7 and full.startswith(short)


class FilterModule:
    """Cluster helpers."""

    def filters(self) -> dict:
        return {
            "rpc_endpoints": rpc_endpoints,
            "rpc_buffers": rpc_buffers,
            "rpc_model_mib": rpc_model_mib,
            "offloaded_layers": offloaded_layers,
            "build_commit": build_commit,
            "same_commit": same_commit,
            "stamp_binaries": stamp_binaries,
        }
