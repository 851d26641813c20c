"""The direct link on the simulated Mac: what networksetup and ifconfig report."""

from __future__ import annotations

import json
import os
from pathlib import Path

import labhosts

MAC = labhosts.connect("mac-studio")


def test_service_has_manual_address() -> None:
    info = MAC.check_output("networksetup -getinfo Ethernet").splitlines()
    assert info[0] == "Manual Configuration"
    assert "IP address: 192.168.100.1" in info
    assert "Subnet mask: 255.255.255.0" in info


def test_mtu_is_jumbo() -> None:
    assert MAC.check_output("networksetup -getMTU en0") == "Active MTU: 9000 (Current Setting: 9000)"


def test_ifconfig_agrees() -> None:
    out = MAC.check_output("ifconfig en0")
    assert " mtu 9000" in out.splitlines()[0]
    assert "inet 192.168.100.1 netmask 0xffffff00" in out


def test_other_service_untouched() -> None:
    assert MAC.check_output("networksetup -getMTU en1") == "Active MTU: 1500 (Current Setting: 1500)"


def test_the_link_was_measured_over_the_cable_from_the_mac() -> None:
    """link_check ran the Mac's own ping flags and Homebrew's iperf3 against the real Linux worker."""
    reports = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "reports"
    report = json.loads((reports / "link-mac-studio-spark.json").read_text())
    assert report["mtu"] == 9000
    assert report["df_ping_ok"] == {"a_to_b": True, "b_to_a": True}
    assert min(report["gbps"].values()) > 1.0
    assert report["speed_mbps"]["a"] == 10000


def test_iperf3_is_only_in_homebrews_bin_on_the_mac() -> None:
    assert MAC.file("/opt/homebrew/bin/iperf3").is_file
    assert not MAC.run("PATH=/usr/bin:/bin:/usr/sbin:/sbin command -v iperf3").succeeded


def test_the_mac_end_of_the_cable_carries_the_address() -> None:
    """networksetup's settings reached the container's interface, so traffic flowed."""
    out = MAC.check_output("ip -4 -o addr show dev en0")
    assert "inet 192.168.100.1/24" in out
    assert "mtu 9000" in MAC.check_output("ip -o link show dev en0")
