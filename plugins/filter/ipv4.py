"""IPv4 filters for CIDR strings such as ``192.168.100.2/24``.

Standard library only, so the controller needs no netaddr.
"""

from __future__ import annotations

import ipaddress


def _iface(value: str) -> ipaddress.IPv4Interface:
    if "/" not in str(value):
        raise ValueError(f"{value!r} has no /prefix")
    return ipaddress.IPv4Interface(str(value))


def ipv4_address(value: str) -> str:
    """``192.168.100.2/24`` -> ``192.168.100.2``."""
    return str(_iface(value).ip)


def ipv4_netmask(value: str) -> str:
    """``192.168.100.2/24`` -> ``255.255.255.0``."""
    return str(_iface(value).netmask)


def ipv4_network(value: str) -> str:
    """``192.168.100.2/24`` -> ``192.168.100.0/24``."""
    return str(_iface(value).network)


def in_ipv4_network(value: object, network: str) -> bool:
    """True when ``value`` is an IPv4 address inside ``network`` (``192.168.100.0/24``); a name is not."""
    try:
        return ipaddress.IPv4Address(str(value)) in ipaddress.IPv4Network(network, strict=False)
    except ValueError:
        return False


def is_ipv4_cidr(value: object) -> bool:
    """True for an IPv4 host address with an explicit prefix length."""
    try:
        iface = _iface(str(value))
    except ValueError:
        return False
    net = iface.network
    if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        return False
    return True


def subject_alt_names(names: list) -> list[str]:
    """Names a certificate covers, as x509 subjectAltName entries: an IP
    address (v4 or v6) as ``IP:``, anything else as ``DNS:``; empty ones and
    repeats dropped, order kept.
    ``['127.0.0.1', 'localhost', '', 'localhost']`` -> ``['IP:127.0.0.1', 'DNS:localhost']``."""
    out: list[str] = []
    for name in names:
        name = str(name or "").strip()
        if not name:
            continue
        try:
            entry = f"IP:{ipaddress.ip_address(name)}"
        except ValueError:
            entry = f"DNS:{name}"
        if entry not in out:
            out.append(entry)
    return out


class FilterModule:
    """IPv4 CIDR helpers."""

    def filters(self) -> dict:
        return {
            "ipv4_address": ipv4_address,
            "ipv4_netmask": ipv4_netmask,
            "ipv4_network": ipv4_network,
            "subject_alt_names": subject_alt_names,
        }
