"""The cluster role's topology filters: who serves whom, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_loader import load

topology = load("filter", "topology")

HEADS = ["studio"]
WORKERS = ["spark", "spark2"]


def _node(name: str, address: str, mtu: Any = 9000, **ports: int) -> dict[str, Any]:
    hostvars: dict[str, Any] = {"direct_link_address": address, "direct_link_mtu": mtu}
    hostvars.update({f"cluster_{key}": value for key, value in ports.items()})
    return topology.node(hostvars, name, HEADS, WORKERS, 50052, 9999)


def _pair() -> list[dict[str, Any]]:
    return [_node("spark", "192.168.100.2/24"), _node("studio", "192.168.100.1/24")]


def test_node_reads_roles_address_and_default_ports() -> None:
    assert _node("spark", "192.168.100.2/24") == {
        "name": "spark",
        "head": False,
        "worker": True,
        "address": "192.168.100.2/24",
        "mtu": 9000,
        "rpc_port": 50052,
        "api_port": 9999,
    }


def test_node_takes_a_host_port_override() -> None:
    assert _node("spark", "192.168.100.2/24", rpc_port=50053)["rpc_port"] == 50053


def test_head_serves_the_workers_on_its_link_in_inventory_order() -> None:
    nodes = [
        _node("spark", "192.168.100.2/24"),
        _node("spark2", "192.168.100.3/24", rpc_port=50060),
        _node("studio", "192.168.100.1/24"),
    ]
    assert topology.served_workers(nodes[2], nodes) == [
        {"host": "spark", "endpoint": "192.168.100.2:50052"},
        {"host": "spark2", "endpoint": "192.168.100.3:50060"},
    ]


def test_a_worker_accepts_the_heads_on_its_link_only() -> None:
    nodes = _pair() + [topology.node({"direct_link_address": "10.9.0.1/24"}, "mac2", ["studio", "mac2"], WORKERS,
                                     50052, 9999)]
    nodes[1]["head"] = True
    assert topology.serving_heads(nodes[0], nodes) == [{"host": "studio", "address": "192.168.100.1"}]
    assert topology.serving_heads(nodes[1], nodes) == []


def test_a_worker_serves_nobody() -> None:
    nodes = _pair()
    assert topology.served_workers(nodes[0], nodes) == []


def test_head_does_not_serve_a_worker_on_another_link() -> None:
    nodes = [_node("spark", "192.168.100.2/24"), _node("spark2", "10.9.0.2/24"), _node("studio", "192.168.100.1/24")]
    assert [w["host"] for w in topology.served_workers(nodes[2], nodes)] == ["spark"]


def test_a_sound_pair_has_no_errors() -> None:
    nodes = _pair()
    assert [topology.topology_errors(n, nodes) for n in nodes] == [[], []]


@pytest.mark.parametrize("address", ["192.168.100.2", "192.168.100.300/24", "192.168.100.0/24", "", None])
def test_an_address_that_is_not_a_host_cidr_is_refused_naming_it(address: Any) -> None:
    me = _node("spark", address)
    (error,) = topology.topology_errors(me, _pair())
    assert error.startswith("Host spark: direct_link_address must be an IPv4 host address")
    assert f"got '{address or ''}'" in error


def test_duplicate_addresses_are_refused_naming_both_hosts() -> None:
    nodes = [_node("spark", "192.168.100.1/24"), _node("studio", "192.168.100.1/24")]
    errors = topology.topology_errors(nodes[0], nodes)
    assert "Hosts spark and studio share direct_link_address 192.168.100.1; each host on the link needs its own." in errors


def test_a_worker_without_a_head_on_its_subnet_is_refused() -> None:
    nodes = [_node("spark", "10.0.0.2/24"), _node("studio", "192.168.100.1/24")]
    (error,) = topology.topology_errors(nodes[0], nodes)
    assert "Host spark: direct_link_address 10.0.0.2/24 is in 10.0.0.0/24" in error
    assert "studio=192.168.100.1/24" in error
    assert "one link needs one subnet" in error


def test_a_worker_with_no_head_at_all_is_refused() -> None:
    nodes = [_node("spark", "192.168.100.2/24")]
    (error,) = topology.topology_errors(nodes[0], nodes)
    assert "(heads: none)" in error


def test_different_mtus_on_the_two_ends_are_refused() -> None:
    nodes = [_node("spark", "192.168.100.2/24", mtu=1500), _node("studio", "192.168.100.1/24", mtu=9000)]
    (error,) = topology.topology_errors(nodes[0], nodes)
    assert error == (
        "Host spark: direct_link_mtu 1500 differs from 9000 on head studio at the other end of the link; "
        "both ends need the same MTU."
    )


def test_a_host_in_no_group_is_refused() -> None:
    stray = topology.node({"direct_link_address": "192.168.100.9/24"}, "stray", HEADS, WORKERS, 50052, 9999)
    assert topology.topology_errors(stray, _pair()) == [
        "Host stray is in neither the heads' nor the workers' group; put it in one."
    ]


def test_a_host_in_both_roles_needs_two_ports() -> None:
    heads, workers = ["studio", "mac2"], ["studio", "spark"]
    both = topology.node({"direct_link_address": "192.168.100.1/24", "cluster_rpc_port": 9999}, "studio",
                         heads, workers, 50052, 9999)
    mac2 = topology.node({"direct_link_address": "192.168.100.3/24"}, "mac2", heads, workers, 50052, 9999)
    errors = topology.topology_errors(both, [both, mac2])
    assert errors == [
        "Host studio runs both the RPC server and llama-server on port 9999: "
        "cluster_rpc_port and cluster_api_port must differ."
    ]


def test_a_port_out_of_range_is_refused() -> None:
    me = _node("spark", "192.168.100.2/24", rpc_port=70000)
    assert topology.topology_errors(me, _pair()) == ["Host spark: cluster_rpc_port must be within 1-65535; got 70000."]


# `ss -Htn state established '( sport = :50052 )'` in the lab worker, and
# `netstat -an -p tcp` in the form of netstat(1) on macOS.
SS = """\
0      0         192.168.100.2:50052    192.168.100.1:40522
0      0         192.168.100.2:22       10.88.0.1:51000
"""
NETSTAT = """\
Active Internet connections (including servers)
Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)
tcp4       0      0  192.168.100.2.50052    192.168.100.1.61234    ESTABLISHED
tcp4       0      0  192.168.100.2.50052    192.168.100.7.61235    CLOSE_WAIT
tcp4       0      0  *.50052                *.*                    LISTEN
"""


@pytest.mark.parametrize("output", [SS, NETSTAT])
def test_tcp_peers_lists_who_is_connected_to_the_port(output: str) -> None:
    assert topology.tcp_peers(output, 50052) == ["192.168.100.1"]
    assert topology.tcp_peers(output, 50053) == []


def test_restart_reasons_name_the_workers_that_dropped_the_head() -> None:
    results = [
        {"endpoint": "192.168.100.2:50052", "restarted": True, "clients": []},
        {"endpoint": "192.168.100.3:50052", "restarted": False, "clients": ["192.168.100.9"]},
        {"endpoint": "192.168.100.4:50052", "restarted": False, "clients": ["192.168.100.1"]},
        {},
    ]
    assert topology.restart_reasons(["a", "b", "c", "d"], results, "192.168.100.1") == [
        "worker a restarted its RPC server in this run",
        "worker b has no connection from 192.168.100.1 at 192.168.100.3:50052 "
        "(its RPC server restarted since the head connected, or the head is not running)",
    ]


def test_worker_connections_say_which_worker_serves_the_head() -> None:
    other = "0 0 192.168.100.3:50052 192.168.100.9:40000\n"
    report = topology.worker_connections(
        ["spark", "spark2"], ["192.168.100.2:50052", "192.168.100.3:50052"], [SS, other], "192.168.100.1"
    )
    assert [(w["host"], w["connected"], w["clients"]) for w in report] == [
        ("spark", True, ["192.168.100.1"]),
        ("spark2", False, ["192.168.100.9"]),
    ]
    assert report[1]["error"] == "no connection from 192.168.100.1"


def test_tcp_listen_reads_the_accept_queue_without_connecting() -> None:
    # `ss -Htln '( sport = :50052 )'` on the lab worker after the fourth `make lab` of b66bfb0: a full queue.
    ss = "LISTEN 2      1      192.168.100.2:50052      0.0.0.0:*          \n"
    assert topology.tcp_listen(ss, "192.168.100.2", 50052) == {"listening": True, "queued": 2, "backlog": 1}
    assert topology.tcp_listen(ss, "192.168.100.3", 50052)["listening"] is False
    netstat = ("Current listen queue sizes (qlen/incqlen/maxqlen)\nListen         Local Address\n"
               "0/0/1          192.168.100.2.50052\n0/0/128        *.22\n")
    assert topology.tcp_listen(netstat, "192.168.100.2", 50052) == {"listening": True, "queued": 0, "backlog": 1}
    assert topology.tcp_listen("", "192.168.100.2", 50052) == {"listening": False, "queued": 0, "backlog": None}


def test_tcp_listeners_finds_a_server_on_any_address() -> None:
    # A former worker's leftover server, on its link address, on the wildcard and on IPv6.
    ss = ("LISTEN 0      1      192.168.100.2:50052      0.0.0.0:*\n"
          "LISTEN 0      4096   0.0.0.0:22               0.0.0.0:*\n"
          "LISTEN 0      1      [::]:50052               [::]:*\n")
    assert topology.tcp_listeners(ss, 50052) == ["192.168.100.2", "[::]"]
    assert topology.tcp_listeners(ss, 9999) == []
    netstat = "0/0/1          *.50052\n0/0/128        *.22\n"
    assert topology.tcp_listeners(netstat, 50052) == ["*"]
    assert topology.tcp_listeners("", 50052) == []
