"""plugins/filter/ipv4.py and plugins/test/ipv4.py."""

from __future__ import annotations

import pytest

from plugin_loader import load

ipv4 = load("filter", "ipv4")
tests = load("test", "ipv4").TestModule().tests()


def test_parts_of_a_cidr() -> None:
    assert ipv4.ipv4_address("192.168.100.2/24") == "192.168.100.2"
    assert ipv4.ipv4_netmask("192.168.100.2/24") == "255.255.255.0"
    assert ipv4.ipv4_network("192.168.100.2/24") == "192.168.100.0/24"
    assert ipv4.ipv4_netmask("10.1.2.3/20") == "255.255.240.0"


@pytest.mark.parametrize("value", ["192.168.100.2/24", "10.0.0.1/8", "192.168.100.1/31", "192.168.100.1/32"])
def test_valid_cidrs(value: str) -> None:
    assert tests["ipv4_cidr"](value) is True


@pytest.mark.parametrize(
    "value",
    ["192.168.100.2", "192.168.100.300/24", "192.168.100.2/33", "fe80::1/64", "192.168.100.0/24", "192.168.100.255/24", "", None, 42],
)
def test_invalid_cidrs(value: object) -> None:
    assert tests["ipv4_cidr"](value) is False


def test_filters_refuse_a_bare_address() -> None:
    with pytest.raises(ValueError, match="no /prefix"):
        ipv4.ipv4_network("192.168.100.2")


def test_subject_alt_names() -> None:
    names = ["127.0.0.1", "localhost", "studio", "", None, "10.88.0.5", "studio", "::1", "head.example.org"]
    assert ipv4.subject_alt_names(names) == [
        "IP:127.0.0.1", "DNS:localhost", "DNS:studio", "IP:10.88.0.5", "IP:::1", "DNS:head.example.org"]


def test_in_ipv4_network() -> None:
    inside = tests["in_ipv4_network"]
    assert inside("192.168.100.2", "192.168.100.0/24")
    assert not inside("10.88.0.5", "192.168.100.0/24")
    assert not inside("spark.local", "192.168.100.0/24")
