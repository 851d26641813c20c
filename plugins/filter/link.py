"""Parsers for what link tools print: ethtool, macOS media, ping and iperf3.

Each returns plain data; a figure the tool did not report is None, never a guess.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

_MEDIA_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(G|M)?base", re.IGNORECASE)
_RTT_RE = re.compile(r"=\s*([\d.]+)/([\d.]+)/([\d.]+)/")


def ethtool_media(text: str) -> dict[str, Optional[Any]]:
    """Speed in Mb/s and duplex from ``ethtool IFACE`` output."""
    speed = re.search(r"^\s*Speed:\s*(\d+)\s*Mb/s", text, re.MULTILINE)
    duplex = re.search(r"^\s*Duplex:\s*(Full|Half)", text, re.MULTILINE | re.IGNORECASE)
    return {
        "speed_mbps": int(speed.group(1)) if speed else None,
        "duplex": duplex.group(1).lower() if duplex else None,
    }


def macos_media(text: str) -> dict[str, Optional[Any]]:
    """Speed and duplex from ``networksetup -getMedia`` or an ifconfig media line.

    ``Active: 10GbaseT <full-duplex>`` gives 10000 and full; ``autoselect``
    alone reports nothing.
    """
    line = re.search(r"^Active:\s*(.+)$", text, re.MULTILINE)
    media = line.group(1) if line else text
    found = _MEDIA_RE.search(media)
    speed = None
    if found:
        value = float(found.group(1))
        speed = int(value * 1000) if (found.group(2) or "").upper() == "G" else int(value)
    duplex = re.search(r"<(full|half)-duplex", media, re.IGNORECASE)
    return {"speed_mbps": speed, "duplex": duplex.group(1).lower() if duplex else None}


def ping_rtt(text: str) -> dict[str, float]:
    """min/avg/max in ms from the summary line of Linux or macOS ping."""
    found = _RTT_RE.search(text)
    if not found:
        raise ValueError(f"no round-trip summary in ping output: {text!r}")
    low, avg, high = (float(x) for x in found.groups())
    return {"min": low, "avg": avg, "max": high}


def iperf3_gbps(text: str) -> float:
    """Received Gbit/s from ``iperf3 -J`` output (the receiver's figure)."""
    data = json.loads(text)
    if "error" in data:
        raise ValueError(f"iperf3 reported an error: {data['error']}")
    return round(data["end"]["sum_received"]["bits_per_second"] / 1e9, 3)


class FilterModule:
    """Link measurement parsers."""

    def filters(self) -> dict:
        return {
            "ethtool_media": ethtool_media,
            "macos_media": macos_media,
            "ping_rtt": ping_rtt,
            "iperf3_gbps": iperf3_gbps,
        }
