"""The direct link after converge: addresses, MTU, DF pings, shaping, report."""

from __future__ import annotations

import json
import re

import pytest

import labhosts

HOSTS = labhosts.group("llama_cluster")
HEADS = labhosts.group("llama_heads")
WORKERS = labhosts.group("llama_workers")
PAIRS = [(a, b) for a in HEADS for b in WORKERS] + [(b, a) for a in HEADS for b in WORKERS]


def _iface(name: str) -> str:
    return labhosts.hostvars(name)["direct_link_interface"]


@pytest.mark.parametrize("name", HOSTS)
def test_static_address(name: str) -> None:
    out = labhosts.connect(name).check_output(f"ip -j addr show dev {_iface(name)}")
    addrs = [f"{a['local']}/{a['prefixlen']}" for a in json.loads(out)[0]["addr_info"] if a["family"] == "inet"]
    assert addrs == [labhosts.hostvars(name)["direct_link_address"]]


@pytest.mark.parametrize("name", HOSTS)
def test_jumbo_mtu(name: str) -> None:
    mtu = labhosts.connect(name).file(f"/sys/class/net/{_iface(name)}/mtu").content_string.strip()
    assert int(mtu) == labhosts.hostvars(name)["direct_link_mtu"] == 9000


@pytest.mark.parametrize("name", HOSTS)
def test_link_is_shaped(name: str) -> None:
    out = labhosts.connect(name).check_output(f"tc qdisc show dev {_iface(name)} root")
    assert "tbf" in out and "rate 10Gbit" in out


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_df_ping_fits_at_mtu(src: str, dst: str) -> None:
    mtu = labhosts.hostvars(src)["direct_link_mtu"]
    host = labhosts.connect(src)
    fits = host.run(f"ping -n -c 1 -W 2 -M do -s {mtu - 28} {labhosts.address(dst)}")
    too_big = host.run(f"ping -n -c 1 -W 2 -M do -s {mtu - 27} {labhosts.address(dst)}")
    assert fits.rc == 0, fits.stderr
    assert too_big.rc != 0 and "message too long" in (too_big.stderr + too_big.stdout)


def test_worker_uses_networkmanager() -> None:
    spark = labhosts.connect("spark")
    profile = spark.check_output("nmcli -g GENERAL.CONNECTION device show enP7s7")
    assert profile == "direct-link-enP7s7"
    assert spark.check_output("nmcli -g 802-3-ethernet.mtu connection show direct-link-enP7s7") == "9000"


def test_head_uses_networkd() -> None:
    studio = labhosts.connect("studio")
    unit = studio.file("/etc/systemd/network/10-direct-link-en0.network")
    assert unit.contains("^Address=192.168.100.1/24$") and unit.contains("^MTUBytes=9000$")
    assert studio.service("systemd-networkd").is_running


def _report(head: str, worker: str) -> dict:
    return json.loads((labhosts.reports_dir() / f"link-{head}-{worker}.json").read_text())


def _ethtool_media(name: str) -> tuple[int, str]:
    """Speed in Mb/s and duplex (lower case) of the host's link, from its own ethtool."""
    out = labhosts.connect(name).check_output(f"ethtool {_iface(name)}")
    speed = re.search(r"^\s*Speed:\s*(\d+)Mb/s\s*$", out, re.MULTILINE)
    duplex = re.search(r"^\s*Duplex:\s*(\w+)\s*$", out, re.MULTILINE)
    assert speed and duplex, f"ethtool on {name} reports no speed or duplex:\n{out}"
    return int(speed.group(1)), duplex.group(1).lower()


@pytest.mark.parametrize(("head", "worker"), [(a, b) for a in HEADS for b in WORKERS])
def test_link_report(head: str, worker: str) -> None:
    report = _report(head, worker)
    assert report["mtu"] == 9000
    assert report["df_ping_ok"] == {"a_to_b": True, "b_to_a": True}
    assert min(report["gbps"].values()) >= labhosts.hostvars(head)["link_check_min_gbps"] == 7.0
    assert 0 < report["rtt_ms"]["min"] <= report["rtt_ms"]["avg"] <= report["rtt_ms"]["max"]
    assert set(report["speed_mbps"]) == {"a", "b"}


@pytest.mark.parametrize(("head", "worker"), [(a, b) for a in HEADS for b in WORKERS])
def test_link_report_speed_is_what_ethtool_reads(head: str, worker: str) -> None:
    report = _report(head, worker)
    assert (report["a"]["host"], report["b"]["host"]) == (head, worker)
    for end, name in (("a", head), ("b", worker)):
        media = _ethtool_media(name)
        # The lab's veth pair reports 10 Gbit/s, full duplex.
        assert media == (10000, "full")
        assert (report["speed_mbps"][end], report["duplex"][end]) == media
