"""The cluster's topology: who serves whom over which link, and what is wrong with it.

The ``cluster`` role feeds these filters with one record per inventory host
(see ``node``) and publishes what they return as plain facts. A head serves
the workers that share its link's subnet; each worker needs at least one
head, and both ends of a link must agree on the MTU. Standard library only,
so unit tests need no Ansible.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any


def _interface(cidr: Any) -> ipaddress.IPv4Interface | None:
    text = str(cidr or "")
    if "/" not in text:
        return None
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        return None
    net = iface.network
    if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        return None
    return iface


def node(
    hostvars: Mapping[str, Any],
    name: str,
    heads: Iterable[str],
    workers: Iterable[str],
    rpc_port: int,
    api_port: int,
) -> dict[str, Any]:
    """One host's record: its roles, link address, MTU and ports.

    ``hostvars`` is that host's variables (inventory and facts); ``name`` may
    be empty to take its ``inventory_hostname``. The ports default to the
    cluster's when the host does not override them.
    """
    name = name or str(hostvars["inventory_hostname"])
    return {
        "name": name,
        "head": name in list(heads),
        "worker": name in list(workers),
        "address": str(hostvars.get("direct_link_address", "") or ""),
        "mtu": hostvars.get("direct_link_mtu"),
        "rpc_port": int(hostvars.get("cluster_rpc_port", rpc_port)),
        "api_port": int(hostvars.get("cluster_api_port", api_port)),
    }


def _same_link(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    ia, ib = _interface(a["address"]), _interface(b["address"])
    return ia is not None and ib is not None and ia.network == ib.network


def served_workers(head: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The workers a head offloads to, in inventory order: those on its link.

    Each entry is ``{'host': name, 'endpoint': 'address:port'}``, the form
    llama-server's ``--rpc`` and the checks take. A host that is no head
    serves nobody.
    """
    served: list[dict[str, Any]] = []
    if not head["head"]:
        return served
    for other in nodes:
        if other["worker"] and other["name"] != head["name"] and _same_link(head, other):
            address = str(_interface(other["address"]).ip)  # type: ignore[union-attr]
            served.append({"host": other["name"], "endpoint": f"{address}:{other['rpc_port']}"})
    return served


def serving_heads(worker: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The heads that offload to a worker: those on its link, ``{'host', 'address'}`` each.

    Their link addresses are the only ones its RPC port may accept.
    """
    if not worker["worker"]:
        return []
    return [
        {"host": other["name"], "address": str(_interface(other["address"]).ip)}  # type: ignore[union-attr]
        for other in nodes
        if other["head"] and other["name"] != worker["name"] and _same_link(worker, other)
    ]


def topology_errors(me: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """What is wrong with one host's place in the cluster, one sentence each.

    ``me`` is this host's record (built from its own variables, so a check
    can override them); ``nodes`` are every host's records, this one's
    included or not. Each message names the host, the variable and the value.
    """
    name = me["name"]
    others = [n for n in nodes if n["name"] != name]
    errors: list[str] = []
    mine = _interface(me["address"])
    if mine is None:
        return [
            f"Host {name}: direct_link_address must be an IPv4 host address with a prefix, "
            f"like 192.168.100.2/24; got '{me['address']}'."
        ]
    twins = [o["name"] for o in others if getattr(_interface(o["address"]), "ip", None) == mine.ip]
    if twins:
        errors.append(
            f"Hosts {' and '.join([name] + twins)} share direct_link_address {mine.ip}; "
            "each host on the link needs its own."
        )
    if not (me["head"] or me["worker"]):
        errors.append(f"Host {name} is in neither the heads' nor the workers' group; put it in one.")
    if me["worker"]:
        heads = [o for o in others if o["head"]]
        linked = [o for o in heads if _same_link(me, o)]
        if not linked:
            elsewhere = " ".join(f"{o['name']}={o['address']}" for o in heads) or "none"
            errors.append(
                f"Host {name}: direct_link_address {me['address']} is in {mine.network}, but no head is "
                f"(heads: {elsewhere}); one link needs one subnet, and no head serves this worker."
            )
        for head in linked:
            if str(head["mtu"]) != str(me["mtu"]):
                errors.append(
                    f"Host {name}: direct_link_mtu {me['mtu']} differs from {head['mtu']} on head {head['name']} "
                    "at the other end of the link; both ends need the same MTU."
                )
    if me["head"] and me["worker"] and me["rpc_port"] == me["api_port"]:
        errors.append(
            f"Host {name} runs both the RPC server and llama-server on port {me['rpc_port']}: "
            "cluster_rpc_port and cluster_api_port must differ."
        )
    for key in ("rpc_port", "api_port"):
        if not 1 <= int(me[key]) <= 65535:
            errors.append(f"Host {name}: cluster_{key} must be within 1-65535; got {me[key]}.")
    return errors


_SS_PEER = re.compile(r"^\S+\s+\S+\s+(?P<local>\S+):(?P<lport>\d+)\s+(?P<peer>[0-9.]+):\d+\s*$")
_NETSTAT_PEER = re.compile(
    r"^tcp4?\s+\S+\s+\S+\s+(?P<local>[0-9.]+)\.(?P<lport>\d+)\s+(?P<peer>[0-9.]+)\.\d+\s+ESTABLISHED"
)


def tcp_peers(output: str, port: int) -> list[str]:
    """Peer addresses of the established TCP connections to local ``port``, sorted.

    Reads ``ss -Htn state established`` (Linux: ``recv send local:port
    peer:port``) and ``netstat -an -p tcp`` (macOS: ``local.port peer.port
    ESTABLISHED``).
    """
    peers = set()
    for line in str(output).splitlines():
        match = _SS_PEER.match(line.strip()) or _NETSTAT_PEER.match(line.strip())
        if match and int(match.group("lport")) == int(port):
            peers.add(match.group("peer"))
    return sorted(peers)


_SS_LISTEN = re.compile(r"^LISTEN\s+(?P<queued>\d+)\s+(?P<backlog>\d+)\s+(?P<local>\S+):(?P<lport>\d+)\s")
_NETSTAT_LISTEN = re.compile(r"^(?P<queued>\d+)/\d+/(?P<backlog>\d+)\s+(?P<local>[0-9.*]+)\.(?P<lport>\d+)\s*$")


def _listening(output: str):
    """Each listening socket of ``ss -Htln`` or ``netstat -Lan -p tcp`` output: (local address, port, queued, backlog)."""
    for line in str(output).splitlines():
        match = _SS_LISTEN.match(line.strip() + " ") or _NETSTAT_LISTEN.match(line.strip())
        if match:
            yield match.group("local"), int(match.group("lport")), int(match.group("queued")), int(match.group("backlog"))


def tcp_listen(output: str, address: str, port: int) -> dict[str, Any]:
    """The listening socket at ``address:port``, read from the host's own socket table, never by connecting.

    Reads ``ss -Htln`` (Linux: ``LISTEN recv-q backlog local:port ...``, where a
    listener's Recv-Q is its accept queue) and ``netstat -Lan -p tcp`` (macOS:
    ``qlen/incqlen/maxqlen local.port``). Returns ``listening``, ``queued``
    (connections waiting to be accepted) and ``backlog``.
    """
    for local, lport, queued, backlog in _listening(output):
        if local == address and lport == int(port):
            return {"listening": True, "queued": queued, "backlog": backlog}
    return {"listening": False, "queued": 0, "backlog": None}


def tcp_listeners(output: str, port: int) -> list[str]:
    """The local addresses listening on ``port``, on any address, from the same tables as tcp_listen."""
    return sorted({local for local, lport, _, _ in _listening(output) if lport == int(port)})


def restart_reasons(workers: Iterable[str], results: Iterable[Mapping[str, Any] | None], head_address: str) -> list[str]:
    """Why a head must restart after its workers, one sentence per worker.

    ``results`` are the workers' ``rpc_server_result`` from this run, in the
    order of ``workers`` (empty where the worker was not visited). A worker
    that restarted, or whose server no longer has a connection from the
    head's link address (it restarted since the head connected), has dropped
    the head's RPC connection: llama.cpp's client aborts on its next use.
    """
    reasons = []
    for worker, result in zip(workers, results):
        if not result:
            continue
        if result.get("restarted"):
            reasons.append(f"worker {worker} restarted its RPC server in this run")
        elif head_address not in result.get("clients", []):
            reasons.append(
                f"worker {worker} has no connection from {head_address} at {result.get('endpoint', '?')} "
                "(its RPC server restarted since the head connected, or the head is not running)"
            )
    return reasons


def worker_connections(
    hosts: Iterable[str], endpoints: Iterable[str], outputs: Iterable[str], head_address: str
) -> list[dict[str, Any]]:
    """Whether each worker's RPC server has a connection from the head.

    ``outputs`` are the workers' ``ss``/``netstat`` listings, in the order of
    ``hosts`` and ``endpoints``. Each entry has the keys of a HELLO probe's
    report (protocol and devices unknown without one) plus ``clients`` and
    ``connected``.
    """
    report = []
    for host, endpoint, output in zip(hosts, endpoints, outputs):
        clients = tcp_peers(output, int(str(endpoint).rsplit(":", 1)[1]))
        report.append({
            "host": host,
            "endpoint": endpoint,
            "clients": clients,
            "connected": head_address in clients,
            "reachable": head_address in clients,
            "error": "" if head_address in clients else f"no connection from {head_address}",
            "protocol": None,
            "devices": [],
        })
    return report


class FilterModule:
    """Cluster topology."""

    def filters(self) -> dict:
        return {
            "cluster_node": node,
            "served_workers": served_workers,
            "serving_heads": serving_heads,
            "topology_errors": topology_errors,
            "tcp_peers": tcp_peers,
            "tcp_listen": tcp_listen,
            "tcp_listeners": tcp_listeners,
            "restart_reasons": restart_reasons,
            "cluster_worker_connections": worker_connections,
        }
