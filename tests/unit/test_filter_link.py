"""plugins/filter/link.py: parsers for ethtool, macOS media, ping and iperf3."""

from __future__ import annotations

import json

import pytest

from plugin_loader import load

link = load("filter", "link")

ETHTOOL_VETH = """Settings for enP7s7:
\tSupported ports: [ ]
\tSpeed: 10000Mb/s
\tDuplex: Full
\tAuto-negotiation: off
\tLink detected: yes
"""

ETHTOOL_UNKNOWN = """Settings for enp1s0:
\tSpeed: Unknown!
\tDuplex: Unknown! (255)
\tLink detected: no
"""

PING_LINUX = """--- 192.168.100.2 ping statistics ---
10 packets transmitted, 10 received, 0% packet loss, time 1830ms
rtt min/avg/max/mdev = 0.034/0.052/0.062/0.009 ms
"""

PING_MACOS = """--- 192.168.100.2 ping statistics ---
10 packets transmitted, 10 packets received, 0.0% packet loss
round-trip min/avg/max/stddev = 0.120/0.245/0.410/0.080 ms
"""


def test_ethtool_reports_speed_and_duplex() -> None:
    assert link.ethtool_media(ETHTOOL_VETH) == {"speed_mbps": 10000, "duplex": "full"}


def test_ethtool_unknown_is_none_not_a_guess() -> None:
    assert link.ethtool_media(ETHTOOL_UNKNOWN) == {"speed_mbps": None, "duplex": None}
    assert link.ethtool_media("") == {"speed_mbps": None, "duplex": None}


@pytest.mark.parametrize(
    ("text", "speed", "duplex"),
    [
        ("Current: autoselect\nActive: 10GbaseT <full-duplex>", 10000, "full"),
        ("Current: autoselect\nActive: 1000baseT <full-duplex,flow-control>", 1000, "full"),
        ("Current: autoselect\nActive: 2.5GBase-T <full-duplex>", 2500, "full"),
        ("Current: autoselect\nActive: 100baseTX <half-duplex>", 100, "half"),
        ("Current: autoselect\nActive: autoselect", None, None),
        ("\tmedia: autoselect (10GbaseT <full-duplex>)", 10000, "full"),
    ],
)
def test_macos_media(text: str, speed: int | None, duplex: str | None) -> None:
    assert link.macos_media(text) == {"speed_mbps": speed, "duplex": duplex}


def test_ping_rtt_linux_and_macos() -> None:
    assert link.ping_rtt(PING_LINUX) == {"min": 0.034, "avg": 0.052, "max": 0.062}
    assert link.ping_rtt(PING_MACOS) == {"min": 0.12, "avg": 0.245, "max": 0.41}


def test_ping_rtt_without_summary_fails() -> None:
    with pytest.raises(ValueError, match="no round-trip summary"):
        link.ping_rtt("100% packet loss")


def test_iperf3_reads_the_receiver() -> None:
    report = {"end": {"sum_sent": {"bits_per_second": 9.99e9}, "sum_received": {"bits_per_second": 9.4123e9}}}
    assert link.iperf3_gbps(json.dumps(report)) == 9.412


def test_iperf3_error_is_raised() -> None:
    with pytest.raises(ValueError, match="unable to connect"):
        link.iperf3_gbps(json.dumps({"error": "unable to connect to server"}))
