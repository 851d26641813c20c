"""Cluster filters: the head's RPC endpoints, the proof of remote layers, a build's binaries, the cluster's name.

``rpc_endpoints`` is the one place that turns the worker inventory into the
``host:port`` list that llama-server's ``--rpc`` takes and cluster_check
probes. ``rpc_buffers`` reads llama-server's load log, where llama.cpp names
each buffer after its backend: ``RPC0[192.168.100.2:50052] model buffer size
= 120.56 MiB``. Standard library only, so unit tests need no Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
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


# An inventory file whose name says nothing of the inventory: hosts.yml (the
# project's inventory/<env>/hosts.yml), inventory, and molecule's own
# ansible_inventory.yml beside a scenario's linked hosts file.
_GENERIC_INVENTORY_FILES = frozenset({"hosts", "inventory", "ansible_inventory"})
_INVENTORY_SUFFIXES = frozenset({".yml", ".yaml", ".ini", ".json", ".toml", ".cfg"})
_CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def inventory_name(inventory_file: str) -> str:
    """The name of the inventory a host comes from, from its ``inventory_file``.

    ``inventory/lab/hosts.yml`` -> ``lab`` (so ``-i inventory/lab`` and ``-i
    inventory/lab/hosts.yml`` agree), ``inventory/staging.yml`` -> ``staging``,
    ``molecule/cluster/inventory/hosts.yml`` -> ``cluster``: the file's own
    name without its suffix, unless that name is generic (hosts, inventory,
    ansible_inventory); then the folder holding it, or that folder's parent
    where the folder itself is called ``inventory``. ``""`` for no file.
    """
    text = str(inventory_file or "").rstrip("/")
    if not text:
        return ""
    path = PurePosixPath(text)
    stem = path.stem if path.suffix.lower() in _INVENTORY_SUFFIXES else path.name
    if stem.lower() not in _GENERIC_INVENTORY_FILES:
        return stem
    folder = path.parent
    if folder.name.lower() == "inventory":
        folder = folder.parent
    return folder.name


def cluster_name_errors(names: Mapping[str, Any], host: str) -> list[str]:
    """What is wrong with ``host``'s cluster_name, given every host's (``{host: name}``, this run's hosts).

    The name is one folder below the controller's reports/ and build/clusters/,
    so it must be a plain folder name, and one cluster has one name.
    """
    own = str(names.get(host, ""))
    errors = []
    if not _CLUSTER_NAME_RE.match(own):
        errors.append(
            f"Host {host}: cluster_name is '{own}': it names this cluster's folders on the controller"
            " (reports/<name>, build/clusters/<name>), so it must be 1-64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit. Set cluster_name in the inventory's group_vars."
        )
    others = {other: str(name) for other, name in names.items() if other != host and str(name) != own}
    if others:
        listed = ", ".join(f"{other} has '{name}'" for other, name in sorted(others.items()))
        errors.append(
            f"Host {host}: cluster_name is '{own}', but {listed}: the hosts of one cluster share one name"
            " (and one set of reports and certificates). Set cluster_name once, for the whole inventory."
        )
    return errors


_CLUSTER_NAME = re.compile(r"\bcluster_[a-z0-9_]+\b")


def wiring_ignored(names: list[str], inventory: list[Any], effective: list[Any],
                   wiring: Mapping[str, Any], host: str) -> list[str]:
    """The wired names an inventory sets in vain, one message each.

    playbooks/vars/wiring.yml is loaded as play vars_files, which outrank
    inventory variables: a value the inventory gives a wired name is dropped
    without a word. ``names`` are the wired names the host's inventory (or an
    extra var) defines, ``inventory`` their values there and ``effective``
    what the play sees; where they differ the inventory lost. Extra vars win
    over vars_files, so an -e value is never reported. Each message names the
    cluster_* variables the wiring reads instead.
    """
    found = []
    for name, given, used in zip(names, inventory, effective):
        if given == used or str(given) == str(used):
            continue
        sources = sorted(set(_CLUSTER_NAME.findall(str(wiring.get(name, "")))))
        instead = f"set {' or '.join(sources)} instead" if sources else "it is internal wiring, not an input"
        found.append(f"Host {host}: the inventory sets {name} to {given!r}, but playbooks/vars/wiring.yml "
                     f"sets it for every stage (to {used!r} here), so the inventory's value would be ignored; {instead}.")
    return found


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
            "inventory_name": inventory_name,
            "cluster_name_errors": cluster_name_errors,
            "wiring_ignored": wiring_ignored,
        }
