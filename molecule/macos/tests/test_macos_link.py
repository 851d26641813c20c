"""The direct link on the simulated Mac: what networksetup and ifconfig report."""

from __future__ import annotations

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
