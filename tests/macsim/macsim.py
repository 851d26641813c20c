#!/usr/bin/env python3
"""Stateful command-level simulator of a macOS head node (Mac Studio, Apple silicon).

macOS cannot run in CI, so the Darwin branches of the roles run inside a Debian
systemd container where this script stands in for the macOS tools.  It is
installed once and symlinked under the name of every command it simulates; it
dispatches on ``os.path.basename(sys.argv[0])`` (or on its first argument when
called as ``macsim.py``).

Every command reads and writes one JSON state file (``$MACSIM_STATE``, default
``/var/lib/macsim/state.json``), so ``networksetup -getMTU`` returns what
``-setMTU`` stored, ``launchctl print`` shows what ``bootstrap`` loaded, and a
second run of a play can be checked for "nothing restarted".

Output formats and exit codes follow captured output of the real tools.  Where
no capture could be found the choice is marked ``UNCONFIRMED`` in a comment.

Standard library only; Python 3.11 (Debian 12 /usr/bin/python3).
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import fcntl
import grp
import hashlib
import ipaddress
import json
import os
import plistlib
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

State = dict[str, Any]

STATE_ENV = "MACSIM_STATE"
DEFAULT_STATE_PATH = "/var/lib/macsim/state.json"
CLT_PATH = "/Library/Developer/CommandLineTools"
BREW_PREFIX = "/opt/homebrew"


class CommandError(Exception):
    """A simulated command failure: message for stderr plus exit status."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

def _device(mac: str, media: str, status: str, mtu_max: int,
            lease: dict[str, str] | None, wireless: bool) -> dict[str, Any]:
    return {
        "mac": mac,
        "mtu": 1500,            # networksetup "Current Setting" (persistent)
        "active_mtu": 1500,     # what the interface runs with now (ifconfig)
        "mtu_min": 1280,
        "mtu_max": mtu_max,
        "media": media,
        "status": status,
        "dhcp_lease": lease,
        "wireless": wireless,
    }


def _service(name: str, device: str) -> dict[str, Any]:
    return {"name": name, "port": name, "device": device, "enabled": True,
            "config": "dhcp", "ip": None, "mask": None, "router": None}


def default_state() -> State:
    """A Mac Studio (M2 Ultra, 128 GB) on macOS 15 with CLT and an empty Homebrew."""
    return {
        "schema": 1,
        "system": {
            # UNCONFIRMED: the values 15.3.1 / 24D70 / Mac14,14 (M2 Ultra) are not checked against a capture (sw_vers layout: sw_vers_main).
            "product_name": "macOS",
            "product_version": "15.3.1",
            "build_version": "24D70",
            "kernel_release": "24.3.0",
            "model": "Mac14,14",
            "chip": "Apple M2 Ultra",
            "cores": 24,
            "memory_mb": 131072,
        },
        "network": {
            "services": [_service("Ethernet", "en0"), _service("Wi-Fi", "en1")],
            "devices": {
                "en0": _device("3c:a6:f6:10:20:30", "10GbaseT <full-duplex>", "active", 9000,
                               {"ip": "192.168.1.50", "mask": "255.255.255.0",
                                "router": "192.168.1.1"}, False),
                # Real Wi-Fi hardware only allows 1280-1500.
                # UNCONFIRMED: the MTU ranges (Wi-Fi 1280-1500, Mac Studio 10GbE en0 1280-9000): no citable capture for this hardware.
                "en1": _device("3c:a6:f6:10:20:31", "autoselect", "inactive", 1500, None, True),
            },
        },
        "xcode": {"clt_installed": True, "install_requests": 0, "license_accepted": True},
        # owner_uid: uid that owns /opt/homebrew.  Real brew refuses to run as
        # root unless root owns it; 0 here so the root-only lab container works.
        "brew": {"owner_uid": 0, "installed": {}},
        # bootout_linger_s: how long launchd keeps a label after bootout returns
        # (lc_bootout); tests of the simulator itself may set it to 0.
        "launchd": {"services": {}, "disabled": {}, "next_pid": 501, "bootout_linger_s": 3.0},
        "directory": {
            "users": {
                "root": {"RecordName": "root", "UniqueID": "0", "PrimaryGroupID": "0",
                         "NFSHomeDirectory": "/var/root", "UserShell": "/bin/sh",
                         "RealName": "System Administrator"},
                "nobody": {"RecordName": "nobody", "UniqueID": "-2", "PrimaryGroupID": "-2",
                           "NFSHomeDirectory": "/var/empty", "UserShell": "/usr/bin/false",
                           "RealName": "Unprivileged User"},
                "daemon": {"RecordName": "daemon", "UniqueID": "1", "PrimaryGroupID": "1",
                           "NFSHomeDirectory": "/var/root", "UserShell": "/usr/bin/false",
                           "RealName": "System Services"},
            },
            "groups": {
                "wheel": {"RecordName": "wheel", "PrimaryGroupID": "0", "GroupMembership": ["root"]},
                "daemon": {"RecordName": "daemon", "PrimaryGroupID": "1", "GroupMembership": ["root"]},
                "everyone": {"RecordName": "everyone", "PrimaryGroupID": "12", "GroupMembership": []},
                "staff": {"RecordName": "staff", "PrimaryGroupID": "20", "GroupMembership": ["root"]},
                "admin": {"RecordName": "admin", "PrimaryGroupID": "80", "GroupMembership": ["root"]},
            },
            "deleted": {"users": [], "groups": []},
        },
        "defaults": {},
        "cmake": {"builds": {}},
    }


def state_path() -> str:
    return os.environ.get(STATE_ENV, DEFAULT_STATE_PATH)


@contextlib.contextmanager
def _locked(path: str, mode: int) -> Iterator[None]:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # One Mac's state, written by root (launchctl, networksetup) and by the
    # admin user (brew): the lock and the state are open to both.
    fd = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    if os.fstat(fd).st_uid == os.geteuid():
        os.fchmod(fd, 0o666)
    with os.fdopen(fd, "a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: str) -> State:
    try:
        with open(path, encoding="utf-8") as handle:
            loaded: State = json.load(handle)
    except FileNotFoundError:
        loaded = default_state()
    lc_forget_booted_out(loaded)
    return loaded


def _save(path: str, state: State) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".state.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
    os.chmod(tmp, 0o666)
    os.replace(tmp, path)


def read_state() -> State:
    """Snapshot of the state under a shared lock; created on first use."""
    path = state_path()
    if not os.path.exists(path):
        with transaction():
            pass
    with _locked(path, fcntl.LOCK_SH):
        return _load(path)


@contextlib.contextmanager
def transaction() -> Iterator[State]:
    """Read-modify-write the state under an exclusive lock.

    The state is saved only when the block exits normally, so a command that
    fails half-way leaves nothing changed.
    """
    path = state_path()
    with _locked(path, fcntl.LOCK_EX):
        state = _load(path)
        yield state
        _save(path, state)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def is_root() -> bool:
    return os.geteuid() == 0


def valid_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def valid_netmask(text: str) -> bool:
    try:
        ipaddress.IPv4Network("0.0.0.0/" + text)
    except ValueError:
        return False
    return True


def hex_netmask(mask: str) -> str:
    return f"0x{int(ipaddress.IPv4Address(mask)):08x}"


def broadcast(ip: str, mask: str) -> str:
    return str(ipaddress.IPv4Network(f"{ip}/{mask}", strict=False).broadcast_address)


def parse_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d+", text) else None


# --------------------------------------------------------------------------
# Network model shared by networksetup, ifconfig and the facts module
# --------------------------------------------------------------------------

def find_service(state: State, name: str) -> dict[str, Any] | None:
    for service in state["network"]["services"]:
        if service["name"] == name:
            return dict(service)
    return None


def resolve_device(state: State, name: str) -> str | None:
    """A device name (en0) or hardware port name (Ethernet) -> device name."""
    if name in state["network"]["devices"]:
        return name
    for service in state["network"]["services"]:
        if service["port"] == name:
            return str(service["device"])
    return None


def service_for_device(state: State, device: str) -> dict[str, Any] | None:
    for service in state["network"]["services"]:
        if service["device"] == device:
            return dict(service)
    return None


def ipv4_config(state: State, device: str) -> dict[str, str | None] | None:
    """The IPv4 address the device has now: manual config, else its DHCP lease."""
    dev = state["network"]["devices"][device]
    if dev["status"] != "active":
        return None
    service = service_for_device(state, device)
    if service is not None and service["config"] == "manual":
        return {"ip": service["ip"], "mask": service["mask"], "router": service["router"]}
    lease: dict[str, str | None] | None = dev["dhcp_lease"]
    return lease


# --------------------------------------------------------------------------
# networksetup
# --------------------------------------------------------------------------

NS_PARAMS_INVALID = "** Error: The parameters were not valid."
# Source: https://github.com/crc-org/crc/issues/1990 ("X is not a recognized network service." + this line, exit status 4)
# Source: https://github.com/chrisgrieser/alfred-atop/issues/3 (the same two lines, status "(4)")
# CONTRADICTED: crc-org/crc#1990 shows both lines on STDOUT with stderr empty; CommandError writes them to stderr.
NS_INVALID_STATUS = 4


def ns_unknown_service(name: str) -> CommandError:
    return CommandError(NS_INVALID_STATUS,
                        f"{name} is not a recognized network service.\n{NS_PARAMS_INVALID}")


# UNCONFIRMED: "Could not find hardware port or device named X." and its exit status 4.
def ns_unknown_device(name: str) -> CommandError:
    return CommandError(NS_INVALID_STATUS,
                        f"Could not find hardware port or device named {name}.\n{NS_PARAMS_INVALID}")


def ns_require_root() -> None:
    if not is_root():
        # Source: https://github.com/mrodalgaard/alfred-network-workflow/issues/22 (text "** Error: Command requires admin privileges.")
        # CONTRADICTED: https://github.com/irbis-sh/zen-desktop/issues/761 shows exit status 14 for this message; 1 is returned here.
        raise CommandError(1, "** Error: Command requires admin privileges.")


# UNCONFIRMED: that a missing argument gives only "** Error: The parameters were not valid." with exit status 4.
def ns_need(args: Sequence[str], count: int) -> None:
    if len(args) < count:
        raise CommandError(NS_INVALID_STATUS, NS_PARAMS_INVALID)


def ns_device_arg(state: State, args: Sequence[str]) -> str:
    ns_need(args, 1)
    device = resolve_device(state, args[0])
    if device is None:
        raise ns_unknown_device(args[0])
    return device


# Source: https://github.com/melvinsh/osx-proxy/issues/1 (-listallnetworkservices: the asterisk header, then one service per line)
# Source: https://github.com/crc-org/crc/issues/1990 (a disabled service comes out of that listing as "*Wi-Fi")
def ns_list_services(state: State, args: Sequence[str]) -> None:
    out("An asterisk (*) denotes that a network service is disabled.")
    for service in state["network"]["services"]:
        out(("" if service["enabled"] else "*") + service["name"])


# Source: https://github.com/jedisct1/bitbar-dnscrypt-proxy-switcher/issues/11
#   (macOS 15.7.1 -listnetworkserviceorder: header, "(1) Name", "(Hardware Port: P, Device: D)", blank line)
# UNCONFIRMED: the "(*1) Name" form for a disabled service in -listnetworkserviceorder.
def ns_service_order(state: State, args: Sequence[str]) -> None:
    out("An asterisk (*) denotes that a network service is disabled.")
    for index, service in enumerate(state["network"]["services"], start=1):
        mark = "" if service["enabled"] else "*"
        out(f"({mark}{index}) {service['name']}")
        out(f"(Hardware Port: {service['port']}, Device: {service['device']})")
        out()


# Source: https://github.com/nonocast/me/issues/129 (-listallhardwareports: Hardware Port / Device / Ethernet Address blocks, blank between)
# UNCONFIRMED: the leading blank line and the trailing "VLAN Configurations" / "===" lines of -listallhardwareports.
def ns_hardware_ports(state: State, args: Sequence[str]) -> None:
    out()
    for service in state["network"]["services"]:
        device = state["network"]["devices"][service["device"]]
        out(f"Hardware Port: {service['port']}")
        out(f"Device: {service['device']}")
        out(f"Ethernet Address: {device['mac']}")
        out()
    out("VLAN Configurations")
    out("===================")


def ns_getinfo(state: State, args: Sequence[str]) -> None:
    ns_need(args, 1)
    service = find_service(state, args[0])
    if service is None:
        raise ns_unknown_service(args[0])
    device = state["network"]["devices"][service["device"]]
    address = ipv4_config(state, service["device"])
    # UNCONFIRMED: the "Manual Configuration" header and the manual -getinfo block (no capture found).
    if service["config"] == "manual":
        out("Manual Configuration")
        out(f"IP address: {service['ip']}")
        out(f"Subnet mask: {service['mask']}")
        # "(null)" for a manual service without router: UNCONFIRMED.
        out(f"Router: {service['router'] or '(null)'}")
    else:
        # Source: https://github.com/munkireport/munkireport-php/blob/f7930491d565723a607c10076baaf521f5c6da76/app/modules/network/scripts/networkinfo.py
        #   (a parser, not a capture: it emulates -getinfo as DHCP Configuration, IP address:, Subnet mask:, Router:, Client ID:,
        #   IPv6: Automatic, IPv6 IP address: none, IPv6 Router: none)
        out("DHCP Configuration")
        # Source: https://github.com/junenu/pingood/blob/6a19530fc7831528a735ac4020bf3c5cb069340c/docs/macos_networksetup.md
        #   (a real -getinfo DHCP block with no IP address / Subnet mask / Router lines, then Client ID:, IPv6 lines)
        if address is not None:
            out(f"IP address: {address['ip']}")
            out(f"Subnet mask: {address['mask']}")
            out(f"Router: {address['router']}")
        out("Client ID: ")
    out("IPv6: Automatic")
    out("IPv6 IP address: none")
    out("IPv6 Router: none")
    # Source: https://github.com/munkireport/munkireport-php/blob/f7930491d565723a607c10076baaf521f5c6da76/app/modules/network/README.md
    #   ("'Wi-Fi ID' is stored as ethernet": the last -getinfo line is Wi-Fi ID on Wi-Fi; pingood above shows Ethernet Address)
    label = "Wi-Fi ID" if device["wireless"] else "Ethernet Address"
    out(f"{label}: {device['mac']}")


# The lab cables the simulated Mac with a real interface named like the Mac's
# NIC: what networksetup sets is applied to it too, so that traffic (ping,
# iperf3) really flows over the cable. Nothing happens where the container has
# no such interface (the unit tests).
def kernel_interface(device: str) -> bool:
    return is_root() and os.path.isdir(f"/sys/class/net/{device}") and shutil.which("ip") is not None


def kernel_apply(device: str, *argv_list: list[str]) -> None:
    if kernel_interface(device):
        for argv in argv_list:
            subprocess.run(["ip", *argv], check=False, capture_output=True)


# Source: Apple's networksetup(8) synopsis "networksetup -setmanual networkservice ip subnet router"; public
#   scripts for a link without a router pass "" as the router (and some pass only three arguments).
# UNCONFIRMED: that three arguments (no router) are refused with the generic parameter error: the simulator
#   holds a role to the synopsis, never kinder than it.
def ns_setmanual(state: State, args: Sequence[str]) -> None:
    ns_need(args, 4)
    name, ip, mask, router = args[0], args[1], args[2], args[3] or None
    ns_require_root()
    service_found = find_service(state, name)
    if service_found is None:
        raise ns_unknown_service(name)
    if not (valid_ipv4(ip) and valid_netmask(mask)) or (router and not valid_ipv4(router)):
        raise CommandError(NS_INVALID_STATUS, NS_PARAMS_INVALID)
    with transaction() as st:
        for service in st["network"]["services"]:
            if service["name"] == name:
                service.update(config="manual", ip=ip, mask=mask, router=router)
    if service_found["enabled"]:
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
        device = service_found["device"]
        kernel_apply(device, ["addr", "flush", "dev", device, "scope", "global"],
                     ["addr", "add", f"{ip}/{prefix}", "dev", device], ["link", "set", device, "up"])


# Source: networksetup(8): "-getnetworkserviceenabled networkservice" prints Enabled or Disabled,
#   "-setnetworkserviceenabled networkservice on | off".
# UNCONFIRMED: the exact capitalisation of the -getnetworkserviceenabled output.
def ns_get_service_enabled(state: State, args: Sequence[str]) -> None:
    ns_need(args, 1)
    service = find_service(state, args[0])
    if service is None:
        raise ns_unknown_service(args[0])
    out("Enabled" if service["enabled"] else "Disabled")


def ns_set_service_enabled(state: State, args: Sequence[str]) -> None:
    ns_need(args, 2)
    ns_require_root()
    if find_service(state, args[0]) is None:
        raise ns_unknown_service(args[0])
    if args[1].lower() not in ("on", "off"):
        raise CommandError(NS_INVALID_STATUS, NS_PARAMS_INVALID)
    with transaction() as st:
        for service in st["network"]["services"]:
            if service["name"] == args[0]:
                service["enabled"] = args[1].lower() == "on"


def ns_setdhcp(state: State, args: Sequence[str]) -> None:
    ns_need(args, 1)
    ns_require_root()
    if find_service(state, args[0]) is None:
        raise ns_unknown_service(args[0])
    with transaction() as st:
        for service in st["network"]["services"]:
            if service["name"] == args[0]:
                service.update(config="dhcp", ip=None, mask=None, router=None)


# Source: https://github.com/oscar120601/TetherFlow/blob/bee68ee5bce1ce5cfbc9cd5effee55a3bc7a2aee/TetherFlowMain/Services/ReversionVerifier.swift
#   (a parser's note: -getMTU prints "Active MTU: 1500 (Current Setting: 1500)"; munkireport's networkinfo.py strips the "(...)")
def ns_get_mtu(state: State, args: Sequence[str]) -> None:
    device = state["network"]["devices"][ns_device_arg(state, args)]
    out(f"Active MTU: {device['active_mtu']} (Current Setting: {device['mtu']})")


def ns_set_mtu(state: State, args: Sequence[str]) -> None:
    ns_need(args, 2)
    name = ns_device_arg(state, args)
    ns_require_root()
    device = state["network"]["devices"][name]
    mtu = parse_int(args[1])
    if mtu is None or not device["mtu_min"] <= mtu <= device["mtu_max"]:
        # Real networksetup refuses values outside -listValidMTURange; the
        # exact wording is UNCONFIRMED, the generic parameter error is used.
        raise CommandError(NS_INVALID_STATUS, NS_PARAMS_INVALID)
    with transaction() as st:
        st["network"]["devices"][name].update(mtu=mtu, active_mtu=mtu)
    kernel_apply(name, ["link", "set", "dev", name, "mtu", str(mtu)])


# Source: https://github.com/munkireport/munkireport-php/blob/f7930491d565723a607c10076baaf521f5c6da76/app/modules/network/scripts/networkinfo.py
#   (a parser, not a capture: it keeps the "Valid MTU Range: " line of -listvalidMTUrange as is)
def ns_valid_mtu_range(state: State, args: Sequence[str]) -> None:
    device = state["network"]["devices"][ns_device_arg(state, args)]
    out(f"Valid MTU Range: {device['mtu_min']}-{device['mtu_max']}")


# Source: https://github.com/munkireport/munkireport-php/blob/f7930491d565723a607c10076baaf521f5c6da76/app/modules/network/scripts/networkinfo.py
#   (a parser: -getmedia gives "Current: ..." / "Active: ..." lines, with <full-duplex> in angle brackets)
# UNCONFIRMED: "Active: not set" for an inactive port.
def ns_get_media(state: State, args: Sequence[str]) -> None:
    device = state["network"]["devices"][ns_device_arg(state, args)]
    out("Current: autoselect")
    out(f"Active: {device['media'] if device['status'] == 'active' else 'not set'}")


NETWORKSETUP_VERBS: dict[str, Callable[[State, Sequence[str]], None]] = {
    "-listallnetworkservices": ns_list_services,
    "-listnetworkserviceorder": ns_service_order,
    "-listallhardwareports": ns_hardware_ports,
    "-getinfo": ns_getinfo,
    "-setmanual": ns_setmanual,
    "-setdhcp": ns_setdhcp,
    "-getmtu": ns_get_mtu,
    "-setmtu": ns_set_mtu,
    "-listvalidmturange": ns_valid_mtu_range,
    "-getmedia": ns_get_media,
    "-getnetworkserviceenabled": ns_get_service_enabled,
    "-setnetworkserviceenabled": ns_set_service_enabled,
}


def networksetup_main(args: list[str]) -> int:
    if not args:
        # Source: https://pastebin.com/6e04ABsP (real help: "networksetup Help Information", a dashed line, then
        #   "Usage: networksetup -listnetworkserviceorder" ...)
        # CONTRADICTED: that capture has the dashed line and another first usage line; the exit status is UNCONFIRMED.
        out("networksetup Help Information")
        out("Usage: networksetup -listallnetworkservices")
        return 0
    # The real tool matches its verbs case-insensitively (-getMTU == -getmtu).
    # Source: munkireport networkinfo.py (above) calls -listvalidMTUrange and -getmedia, documented as -listValidMTURange, -getMedia.
    verb = NETWORKSETUP_VERBS.get(args[0].lower())
    if verb is None:
        # UNCONFIRMED: the wording and exit status of an unknown networksetup verb.
        raise CommandError(NS_INVALID_STATUS,
                           f"{args[0]} is not a valid command.\n"
                           "Run 'networksetup -help' for more information.")
    verb(read_state(), args[1:])
    return 0


# --------------------------------------------------------------------------
# ifconfig
# --------------------------------------------------------------------------

# Source: https://github.com/glpi-project/glpi-agent/issues/673 (these six lo0 lines, from a real Mac's ifconfig -a)
# Source: https://github.com/nonocast/me/issues/129 (the same lo0 block)
LOOPBACK = (
    "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384\n"
    "\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>\n"
    "\tinet 127.0.0.1 netmask 0xff000000\n"
    "\tinet6 ::1 prefixlen 128\n"
    "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1\n"
    "\tnd6 options=201<PERFORMNUD,DAD>"
)


# Source: https://github.com/dvtirol/pynetinstall/issues/10 (a wired enN: flags=8863<...> mtu, ether, inet A netmask 0xHEX broadcast B,
#   nd6 options=201<PERFORMNUD,DAD>, media: autoselect (1000baseT <full-duplex>), status: active)
# Source: https://github.com/glpi-project/glpi-agent/issues/673 (inactive ports end with "status: inactive")
# UNCONFIRMED: options=6460<...> on the wired 10GbE port (the captures found show it on Wi-Fi en0).
# UNCONFIRMED: a bare "media: autoselect" for the inactive Wi-Fi port. Real blocks also carry inet6 lines, left out here.
def ifconfig_block(state: State, name: str) -> str:
    if name == "lo0":
        return LOOPBACK
    device = state["network"]["devices"][name]
    lines = [f"{name}: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu {device['active_mtu']}",
             "\toptions=6460<TSO4,TSO6,CHANNEL_IO,PARTIAL_CSUM,ZEROINVERT_CSUM>",
             f"\tether {device['mac']}"]
    address = ipv4_config(state, name)
    if address is not None and address["ip"] and address["mask"]:
        lines.append(f"\tinet {address['ip']} netmask {hex_netmask(address['mask'])} "
                     f"broadcast {broadcast(address['ip'], address['mask'])}")
    lines.append("\tnd6 options=201<PERFORMNUD,DAD>")
    media = "autoselect" if device["status"] != "active" or device["wireless"] \
        else f"autoselect ({device['media']})"
    lines.append(f"\tmedia: {media}")
    lines.append(f"\tstatus: {device['status']}")
    return "\n".join(lines)


def interface_names(state: State) -> list[str]:
    return ["lo0"] + sorted(state["network"]["devices"])


# UNCONFIRMED: both "ifconfig: ioctl (SIOCSIFMTU): ..." texts; the "ifconfig: ioctl (SIOCxxx): <error>" shape is real:
# Source: https://github.com/acrogenesis/macchanger/issues/15 ("ifconfig: ioctl (SIOCAIFADDR): Can't assign requested address")
def ifconfig_set_mtu(name: str, value: str) -> None:
    if not is_root():
        raise CommandError(1, "ifconfig: ioctl (SIOCSIFMTU): Operation not permitted")
    with transaction() as st:
        device = st["network"]["devices"][name]
        mtu = parse_int(value)
        if mtu is None or not device["mtu_min"] <= mtu <= device["mtu_max"]:
            raise CommandError(1, "ifconfig: ioctl (SIOCSIFMTU): Invalid argument")
        # Runtime only, like the real tool: the networksetup setting is kept.
        device["active_mtu"] = mtu


def ifconfig_main(args: list[str]) -> int:
    state = read_state()
    # UNCONFIRMED: the one-line, space-separated "ifconfig -l" output (https://manp.gs/mac/8/ifconfig documents the -l option only).
    if args == ["-l"]:
        out(" ".join(interface_names(state)))
        return 0
    if not args or args == ["-a"]:
        out("\n".join(ifconfig_block(state, name) for name in interface_names(state)))
        return 0
    name = args[0]
    # Source: https://github.com/NikushaKalatozi/MacOS-Big-Sur-Sharing-Host-VPN-with-Guest/issues/7
    #   (text "ifconfig: interface bridge100 does not exist"); UNCONFIRMED: its exit status 1.
    if name not in interface_names(state):
        raise CommandError(1, f"ifconfig: interface {name} does not exist")
    if len(args) == 1:
        out(ifconfig_block(state, name))
        return 0
    if len(args) == 3 and args[1] == "mtu" and name != "lo0":
        ifconfig_set_mtu(name, args[2])
        return 0
    # Not a real output: macsim's own refusal for ifconfig arguments it does not model.
    raise CommandError(1, f"ifconfig: macsim does not simulate: {' '.join(args[1:])}")


# --------------------------------------------------------------------------
# sw_vers
# --------------------------------------------------------------------------

def sw_vers_main(args: list[str]) -> int:
    system = read_state()["system"]
    single = {"-productName": "product_name", "-productVersion": "product_version",
              "-buildVersion": "build_version"}
    if args:
        key = single.get(args[0])
        if key is None:
            # CONTRADICTED: https://github.com/ronaldoussoren/pyobjc/issues/651 shows exit status 77 and
            #   "Usage: sw_vers [--help|--productName|--productVersion|--productVersionExtra|--buildVersion]".
            raise CommandError(1, "usage: sw_vers [-productName|-productVersion|"
                                  "-productVersionExtra|-buildVersion]")
        # Source: https://github.com/sindresorhus/macos-version-cli/issues/1 (sw_vers -productVersion prints the bare value)
        out(system[key])
        return 0
    # Source: https://github.com/ggml-org/llama.cpp/issues/14966 (macOS 15.5 sw_vers: ProductName:, ProductVersion:, BuildVersion:, two tabs)
    out(f"ProductName:\t\t{system['product_name']}")
    out(f"ProductVersion:\t\t{system['product_version']}")
    out(f"BuildVersion:\t\t{system['build_version']}")
    return 0


# --------------------------------------------------------------------------
# xcode-select
# --------------------------------------------------------------------------

# Source: https://github.com/rmottola/Arctic-Fox/blob/1eca4f503097d9051830ed0309a3dd8aa284824e/python/mozboot/mozboot/osx.py
#   (Mozilla's bootstrap matches 'unable to get active developer directory' in a failing xcode-select --print-path)
# UNCONFIRMED: the wording after that phrase, and exit status 2 (xcode-select -p without the CLT).
XCODE_NO_DIR = ("xcode-select: error: unable to get active developer directory, use "
                "`sudo xcode-select --switch path/to/Xcode.app` to set one "
                "(or see `man xcode-select`)")


def clt_installed(state: State) -> bool:
    return bool(state["xcode"]["clt_installed"])


def xcode_print_path() -> int:
    if not clt_installed(read_state()):
        raise CommandError(2, XCODE_NO_DIR)
    # Source: https://github.com/Homebrew/brew/issues/2773 (xcode-select -print-path prints /Library/Developer/CommandLineTools)
    out(CLT_PATH)
    return 0


def xcode_install() -> int:
    with transaction() as state:
        if clt_installed(state):
            # CONTRADICTED: https://github.com/dotnet/maui/issues/23907 (current macOS: "xcode-select: note: Command line tools are already
            #   installed. Use "Software Update" in System Settings or the softwareupdate command line interface to install updates");
            #   https://github.com/Homebrew/brew/issues/465 has the older "xcode-select: error: ... use "Software Update" to install updates".
            #   The text below mixes the two. UNCONFIRMED: its exit status 1.
            raise CommandError(1, "xcode-select: error: command line tools are already installed, "
                                  "use \"Software Update\" in System Settings to install updates")
        # The real command only opens a GUI dialog; nothing installs unattended.
        state["xcode"]["install_requests"] += 1
    # UNCONFIRMED: the "install requested" note of xcode-select --install, its stream and exit status 0.
    sys.stderr.write("xcode-select: note: install requested for command line developer tools\n")
    return 0


# The compiler refuses to run until the Xcode licence was accepted: xcrun (and the /usr/bin shims of clang
# and friends) exit 69.
# Source: https://github.com/expo/xde/issues/20 ("xcrun returns error code 69 when user hasn't accepted Xcode license
#   agreement"), https://github.com/robovm/robovm/issues/193 (exit code 69), https://github.com/bazelbuild/continuous-integration/issues/842
#   (return code 69, "Agreeing to the Xcode/iOS license requires admin privileges, please run “sudo xcodebuild -license”
#   and then retry this command."); the way out: `sudo xcodebuild -license accept` (xcpretty/xcode-install#277).
# UNCONFIRMED: the clang --version banner below (version numbers).
XCODE_LICENSE = ("Agreeing to the Xcode/iOS license requires admin privileges, please run “sudo xcodebuild "
                 "-license” and then retry this command.")


def clang_main(args: list[str]) -> int:
    state = read_state()
    require_clt(state)
    if not state["xcode"].get("license_accepted", True):
        raise CommandError(69, XCODE_LICENSE)
    if args[:1] == ["--version"]:
        out("Apple clang version 16.0.0 (clang-1600.0.26.6)")
        out("Target: arm64-apple-darwin24.3.0")
        out("Thread model: posix")
        out(f"InstalledDir: {CLT_PATH}/usr/bin")
        return 0
    raise CommandError(1, "clang: error: the simulator only answers --version")


def xcodebuild_main(args: list[str]) -> int:
    if args == ["-license", "accept"]:
        if not is_root():
            raise CommandError(69, XCODE_LICENSE)
        with transaction() as state:
            state["xcode"]["license_accepted"] = True
        return 0
    raise CommandError(64, "xcodebuild: the simulator only answers -license accept")


def xcode_select_main(args: list[str]) -> int:
    if args in (["-p"], ["--print-path"]):
        return xcode_print_path()
    if args == ["--install"]:
        return xcode_install()
    if args in (["-v"], ["--version"]):
        # UNCONFIRMED: "xcode-select version 2409." (only seen in notes without a citable address).
        out("xcode-select version 2409.")
        return 0
    # UNCONFIRMED: the wording and exit status of an unknown xcode-select argument.
    raise CommandError(1, f"xcode-select: error: invalid argument '{' '.join(args)}'")


def require_clt(state: State) -> None:
    """The error any developer tool (cc, xcrun) gives without the CLT."""
    if not clt_installed(state):
        # Source: https://github.com/TFdream/blog/issues/31 (this exact xcrun text for a missing /Library/Developer/CommandLineTools)
        raise CommandError(1, f"xcrun: error: invalid active developer path ({CLT_PATH}), "
                              f"missing xcrun at: {CLT_PATH}/usr/bin/xcrun")


# --------------------------------------------------------------------------
# brew (the subset community.general.homebrew uses, plus list/--prefix)
# --------------------------------------------------------------------------

FORMULAE: dict[str, dict[str, Any]] = {
    "cmake": {"version": "3.31.5", "desc": "Cross-platform make", "aliases": []},
    "iperf3": {"version": "3.18", "desc": "Update of iperf: measures TCP, UDP, and SCTP bandwidth",
               "aliases": []},
    "ccache": {"version": "4.10.2", "desc": "Object-file caching compiler wrapper", "aliases": []},
    "git": {"version": "2.48.1", "desc": "Distributed revision control system", "aliases": []},
    "openssl@3": {"version": "3.4.1", "desc": "Cryptography and SSL/TLS Toolkit", "aliases": ["openssl"]},
}
BREW_ERROR = "Error: "


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/exceptions.rb
#   ("No available formula with the name \"X\"" plus a did-you-mean hint left out here; brew prints it after "Error: ")
def brew_known(name: str) -> str:
    base = name.split("/")[-1]
    if base not in FORMULAE:
        raise CommandError(1, f"{BREW_ERROR}No available formula with the name \"{name}\".")
    return base


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/formula.rb
#   (Formula#to_hash: the keys used here, versions.stable/head/bottle, installed[] entries, linked_keg, pinned, outdated, keg_only)
# CONTRADICTED: to_hash's installed[] entries have no installed_as_dependency key; this one adds it.
def brew_formula_json(state: State, name: str) -> dict[str, Any]:
    meta = FORMULAE[name]
    installed = state["brew"]["installed"].get(name)
    kegs = [] if installed is None else [{
        "version": installed["version"], "used_options": [], "built_as_bottle": True,
        "poured_from_bottle": True, "time": 0, "runtime_dependencies": [],
        "installed_as_dependency": False, "installed_on_request": True}]
    return {
        "name": name, "full_name": name, "tap": "homebrew/core", "oldnames": [],
        "aliases": meta["aliases"], "versioned_formulae": [], "desc": meta["desc"],
        "versions": {"stable": meta["version"], "head": None, "bottle": True},
        "installed": kegs, "linked_keg": None if installed is None else installed["version"],
        "pinned": False, "outdated": False, "keg_only": False,
    }


def brew_split(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate option words from formula names."""
    return [a for a in args if a.startswith("-")], [a for a in args if not a.startswith("-")]


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/cmd/info.rb
#   (--json=v2 prints {"formulae": [...], "casks": [...]} with JSON.pretty_generate; text: "stable V (bottled)", "Not installed")
def brew_info(args: Sequence[str]) -> int:
    options, names = brew_split(args)
    state = read_state()
    if not any(o.startswith("--json") for o in options):
        for name in names:
            meta = FORMULAE[brew_known(name)]
            out(f"==> {name}: stable {meta['version']} (bottled)")
            out(meta["desc"])
            out("Installed" if name in state["brew"]["installed"] else "Not installed")
        return 0
    formulae = [brew_formula_json(state, brew_known(name)) for name in names]
    out(json.dumps({"formulae": formulae, "casks": []}, indent=2))
    return 0


def brew_install(args: Sequence[str]) -> int:
    _, names = brew_split(args)
    with transaction() as state:
        if not clt_installed(state):
            # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/diagnostic.rb
            #   ("No developer tools installed."; os/mac/xcode.rb in the same tree adds "Install the Command Line Tools:")
            # CONTRADICTED: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/extend/os/mac/diagnostic.rb
            #   runs this check before a bottle install only on Intel; on Apple silicon only a build from source needs the CLT.
            raise CommandError(1, "Error: No developer tools installed.\n"
                                  "Install the Command Line Tools:\n  xcode-select --install")
        for name in [brew_known(n) for n in names]:
            if name in state["brew"]["installed"]:
                # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/install/check.rb
                #   ("X V is already installed and up-to-date."; its reinstall hint is left out here)
                sys.stderr.write(f"Warning: {name} {FORMULAE[name]['version']} is already "
                                 "installed and up-to-date.\n")
                continue
            state["brew"]["installed"][name] = {"version": FORMULAE[name]["version"]}
            # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/formula_installer.rb
            #   (ohai "Pouring <bottle file>"; bottle.rb in the same tree names it "name--V.<tag>.bottle.tar.gz")
            # CONTRADICTED (a deliberate marker): formula_installer.rb#summary prints "<prefix>: <N files, size>" after the beer emoji.
            brew_link_program(name)
            out(f"==> Pouring {name}--{FORMULAE[name]['version']}.arm64_sequoia.bottle.tar.gz")
            out(f"🍺  {BREW_PREFIX}/Cellar/{name}/{FORMULAE[name]['version']}: "
                "installed by macsim")
    return 0


# Formulae whose program really runs in the lab: Homebrew links it into its
# own bin folder (/opt/homebrew/bin), which is on no PATH of a non-login SSH
# session, and nowhere else. The program is the container's real one, moved
# out of Debian's PATH by install.sh.
REAL_TOOLS_DIR = os.environ.get("MACSIM_REAL_DIR", "/usr/local/lib/macsim/real")
BREW_PROGRAMS = {"iperf3": "iperf3"}


def brew_bin() -> str:
    return os.environ.get("MACSIM_BREW_BIN", f"{BREW_PREFIX}/bin")


def brew_link_program(name: str) -> None:
    program = BREW_PROGRAMS.get(name)
    if program and os.path.isdir(brew_bin()):
        path = os.path.join(brew_bin(), program)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f'#!/bin/sh\nexec {REAL_TOOLS_DIR}/{program} "$@"\n')
        os.chmod(path, 0o755)


def brew_unlink_program(name: str) -> None:
    program = BREW_PROGRAMS.get(name)
    if program:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(brew_bin(), program))


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/exceptions.rb ("No such keg: <Cellar>/X")
# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/uninstall.rb
#   ("Uninstalling <keg>... (<N files, size>)"; the size is left out here)
def brew_uninstall(args: Sequence[str]) -> int:
    _, names = brew_split(args)
    with transaction() as state:
        for name in [brew_known(n) for n in names]:
            if state["brew"]["installed"].pop(name, None) is None:
                raise CommandError(1, f"Error: No such keg: {BREW_PREFIX}/Cellar/{name}")
            brew_unlink_program(name)
            out(f"Uninstalling {BREW_PREFIX}/Cellar/{name}/{FORMULAE[name]['version']}...")
    return 0


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/cmd/list.rb
#   (--versions prints "name version" per formula)
def brew_list(args: Sequence[str]) -> int:
    options, names = brew_split(args)
    installed = read_state()["brew"]["installed"]
    for name in names:
        if brew_known(name) not in installed:
            raise CommandError(1, f"Error: No such keg: {BREW_PREFIX}/Cellar/{name}")
    for name in sorted(names or installed):
        out(f"{name} {installed[name]['version']}" if "--versions" in options else name)
    return 0


# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/formula_path.sh
#   (--prefix prints HOMEBREW_PREFIX; --prefix F prints HOMEBREW_PREFIX/opt/F)
def brew_prefix(args: Sequence[str]) -> int:
    _, names = brew_split(args)
    out(f"{BREW_PREFIX}/opt/{brew_known(names[0])}" if names else BREW_PREFIX)
    return 0


def brew_noop(message: str) -> Callable[[Sequence[str]], int]:
    def run(args: Sequence[str]) -> int:
        if message:
            out(message)
        return 0
    return run


BREW_VERBS: dict[str, Callable[[Sequence[str]], int]] = {
    "info": brew_info,
    "install": brew_install,
    "uninstall": brew_uninstall,
    "remove": brew_uninstall,
    "list": brew_list,
    "--prefix": brew_prefix,
    # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/cmd/--version.sh ("Homebrew <version>")
    # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/cmd/update.sh ("Already up-to-date.")
    "--version": brew_noop("Homebrew 4.4.20"),
    "update": brew_noop("Already up-to-date."),
    "upgrade": brew_noop(""),      # nothing is ever outdated in the simulator
    "outdated": brew_noop(""),
    "link": brew_noop(""),
    "unlink": brew_noop(""),
}


def brew_main(args: list[str]) -> int:
    owner = read_state()["brew"]["owner_uid"]
    if is_root() and owner != 0:
        # Source: https://github.com/Homebrew/brew/issues/2167 (this exact three-line refusal)
        # CONTRADICTED: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/brew.sh
        #   (check-run-command-as-root refuses root whoever owns the prefix; only containers, services and --prefix pass;
        #   here root passes when owner_uid is 0 and even --prefix is refused otherwise)
        raise CommandError(1, "Error: Running Homebrew as root is extremely dangerous "
                              "and no longer supported.\nAs Homebrew does not drop privileges "
                              "on installation you would be giving all\nbuild scripts full "
                              "access to your system.")
    if not args:
        # Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/help.sh ("Example usage:" ..., exit 1)
        # CONTRADICTED: real brew prints the whole help to stderr; here three lines go to stdout.
        out("Example usage:\n  brew search TEXT|/REGEX/\n  brew info [FORMULA|CASK...]")
        return 1
    verb = BREW_VERBS.get(args[0])
    if verb is None:
        # CONTRADICTED: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/brew.rb
        #   ("Unknown command: brew X", printed after the help text; here "Unknown command: X")
        raise CommandError(1, f"Error: Unknown command: {args[0]}")
    return verb(args[1:])


# --------------------------------------------------------------------------
# launchctl
# --------------------------------------------------------------------------

def lc_default_domain() -> str:
    return "system" if is_root() else f"gui/{os.geteuid()}"


def lc_domain_phrase(domain: str) -> str:
    if domain == "system":
        return "system"
    kind, _, uid = domain.partition("/")
    return f"user {kind}: {uid}" if kind == "gui" else f"{kind}: {uid}"


# Source: https://github.com/DeterminateSystems/nix-installer/issues/960
#   (launchctl kickstart -k: status 113, stderr "Could not find service \"org.nixos.darwin-store\" in domain for system")
# UNCONFIRMED: the "in domain for user gui: 501" phrase for a gui domain.
def lc_not_found(domain: str, label: str) -> CommandError:
    return CommandError(113, f"Could not find service \"{label}\" in domain for "
                             f"{lc_domain_phrase(domain)}")


def lc_split_target(target: str) -> tuple[str, str]:
    """'system/com.x' -> ('system', 'com.x'); 'gui/501/com.x' -> ('gui/501', 'com.x')."""
    domain, _, label = target.rpartition("/")
    if not domain or not label:
        # CONTRADICTED: https://github.com/pingdotgg/t3code/issues/11995 ("Unrecognized target specifier.", then usage, exit status 64)
        raise CommandError(1, "Unrecognized target specifier.")
    return domain, label


def lc_check_plist_file(path: str, domain: str) -> dict[str, Any]:
    """Load a job plist the way launchd does, or fail like it does."""
    try:
        info = os.stat(path)
        with open(path, "rb") as handle:
            job = plistlib.load(handle)
    except FileNotFoundError:
        # UNCONFIRMED: "Bootstrap failed: 2: No such file or directory" and exit status 2 for a missing plist.
        raise CommandError(2, "Bootstrap failed: 2: No such file or directory") from None
    except (plistlib.InvalidFileException, ValueError, OSError):
        # Source: https://github.com/DeterminateSystems/nix-installer/issues/1157 (bootstrap system: status 5, stderr "Bootstrap failed: 5: ...")
        #   A non-root caller also gets "Try re-running the command as root for richer errors." (https://github.com/pirj/noclamshell/issues/25)
        raise CommandError(5, "Bootstrap failed: 5: Input/output error") from None
    insecure = domain == "system" and (info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    has_program = isinstance(job, dict) and (job.get("Program") or job.get("ProgramArguments"))
    if insecure or not isinstance(job, dict) or not isinstance(job.get("Label"), str) or not has_program:
        # UNCONFIRMED: that an insecure or Label-less plist fails with this same errno 5 text.
        # launchd rejects a daemon plist not owned by root or writable by
        # group/other, or one without Label/Program, with this same error.
        raise CommandError(5, "Bootstrap failed: 5: Input/output error")
    return dict(job)


def lc_next_pid(state: State) -> int:
    pid = int(state["launchd"]["next_pid"])
    state["launchd"]["next_pid"] = pid + 1
    return pid


def lc_start(state: State, job: dict[str, Any]) -> None:
    job.update(pid=lc_next_pid(state), runs=job["runs"] + 1, state="running",
               log_files=lc_open_logs(state, job["plist"]))


# launchd opens StandardOutPath and StandardErrorPath once, when it spawns the
# job, with O_WRONLY|O_APPEND|O_CREAT.
# Source: https://github.com/apple-oss-distributions/launchd (launchd_core_logic.c, job_start_child: job_setup_fd(j,
#   STDOUT_FILENO, j->stdoutpath, O_WRONLY|O_APPEND|O_CREAT), the same for stderr)
# Here no process runs, so the job keeps the identity (device, inode) of each
# file it "opened"; `macsim-log LABEL TEXT` stands for the job writing a line:
# it lands in whatever file has that inode now (the renamed one after a
# rotation) or nowhere, when the file was deleted, as a write to an open
# descriptor would.
# The files are opened after the child became the job's user (job_postfork_become_user comes first), so a job
# with a UserName cannot create its log in a folder only root may write.
# UNCONFIRMED: that today's closed-source launchd still opens them as the job's user.
def lc_user_may_write(state: State, path: str, user: str | None) -> bool:
    if not user or user == "root":
        return True
    record = state["directory"]["users"].get(user)   # what dscl created, else the container's passwd
    try:
        uid = int(record["UniqueID"]) if record and "UniqueID" in record else pwd.getpwnam(user).pw_uid
    except (KeyError, ValueError):
        return False
    target = path if os.path.exists(path) else os.path.dirname(path) or "."
    try:
        info = os.stat(target)
    except OSError:
        return False
    return bool(info.st_mode & stat.S_IWOTH) or (info.st_uid == uid and bool(info.st_mode & stat.S_IWUSR))


def lc_open_logs(state: State, plist: dict[str, Any]) -> dict[str, list[int]]:
    opened: dict[str, list[int]] = {}
    for key in ("StandardOutPath", "StandardErrorPath"):
        path = plist.get(key)
        if isinstance(path, str) and path not in opened and lc_user_may_write(state, path, plist.get("UserName")):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError:
                continue
            info = os.fstat(fd)
            os.close(fd)
            opened[path] = [info.st_dev, info.st_ino]
    return opened


def lc_file_with_inode(path: str, identity: Sequence[int]) -> str | None:
    folder = os.path.dirname(path) or "."
    for name in sorted(os.listdir(folder)):
        candidate = os.path.join(folder, name)
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if [info.st_dev, info.st_ino] == list(identity):
            return candidate
    return None


def macsim_log_main(args: list[str]) -> int:
    """macsim-log LABEL TEXT...: the running job LABEL writes TEXT to its stderr (and stdout)."""
    if len(args) < 2:
        raise CommandError(64, "usage: macsim-log <label> <text>...")
    label, text = args[0], " ".join(args[1:])
    job = next((j for j in read_state()["launchd"]["services"].values()
                if j["label"] == label and j["state"] == "running"), None)
    if job is None:
        raise CommandError(1, f"macsim-log: {label} is not running")
    for path, identity in job.get("log_files", {}).items():
        target = lc_file_with_inode(path, identity)
        if target is not None:   # else: written to a deleted file, lost
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
    return 0


# Source: https://github.com/saltstack/salt/issues/47577 (quotes launchctl(1) on list's columns; the README cites the sentence that a
#   negative status is the signal that killed the job, e.g. -15 for SIGTERM)
# UNCONFIRMED: "last exit code = -15" in launchctl print after a stop (print may word a signal death differently).
def lc_stop(state: State, job: dict[str, Any]) -> None:
    job.update(pid=None, state="not running", last_exit="-15")
    if job["plist"].get("KeepAlive") is True:
        lc_start(state, job)   # launchd respawns a KeepAlive job at once


# bootout returns before launchd has let go of the label: it sends SIGTERM and
# schedules the job's cleanup, and until then the label is still registered.
# Source: https://github.com/headroomlabs-ai/headroom/issues/1289 (bootstrap after bootout: rc=5 "Bootstrap failed: 5:
#   Input/output error" for about 5 s, then rc=0; macOS 26.5.1)
# Source: https://github.com/Layr-Labs/d-inference/issues/1102 (launchd log "scheduling cleanup in 5 sec after sending
#   Terminated: 15"; the label freed about 3 s after bootout)
# Source: https://github.com/bobmatnyc/trusty-tools/issues/6618 and https://github.com/rossoctl/cortex/pull/880 (the fix:
#   wait until the label has left `launchctl print`, then bootstrap, retrying on errno 5)
# UNCONFIRMED: what `print` shows during that window (here: the job, "state = not running", no pid), and that
#   `kickstart` answers 113 for it (headroom#1289: kickstart after bootout gets 113).
def lc_booting_out(job: dict[str, Any]) -> bool:
    return job.get("booting_out_until") is not None


def lc_begin_bootout(state: State, key: str, job: dict[str, Any]) -> None:
    linger = float(state["launchd"].get("bootout_linger_s", 0))
    if linger <= 0:
        del state["launchd"]["services"][key]
        return
    job.update(pid=None, state="not running", last_exit="-15", booting_out_until=time.time() + linger)


def lc_forget_booted_out(state: State) -> None:
    """Drop the labels whose bootout has finished by now."""
    services = state.get("launchd", {}).get("services", {})
    now = time.time()
    for key in [k for k, job in services.items() if lc_booting_out(job) and job["booting_out_until"] <= now]:
        del services[key]


def lc_is_disabled(state: State, domain: str, label: str) -> bool:
    return bool(state["launchd"]["disabled"].get(domain, {}).get(label, False))


def lc_bootstrap_one(state: State, domain: str, path: str) -> str:
    plist = lc_check_plist_file(path, domain)
    label = str(plist["Label"])
    key = f"{domain}/{label}"
    # Source: https://github.com/tomcounsell/ai/issues/2013 (errno 5 from bootstrap while the label is still registered)
    if key in state["launchd"]["services"]:
        raise CommandError(5, "Bootstrap failed: 5: Input/output error")
    if lc_is_disabled(state, domain, label):
        # Source: https://github.com/DeterminateSystems/nix-installer/issues/530 (status 119; real first prints "<plist>: Service is disabled")
        raise CommandError(119, "Bootstrap failed: 119: Service is disabled")
    job: dict[str, Any] = {"label": label, "domain": domain, "path": os.path.abspath(path),
                           "plist": plist, "pid": None, "runs": 0, "state": "not running",
                           "last_exit": None}
    if plist.get("RunAtLoad") or plist.get("KeepAlive"):
        lc_start(state, job)
    state["launchd"]["services"][key] = job
    return label


def lc_job_key_for(state: State, domain: str, spec: str) -> str:
    """bootout accepts 'system/label' or 'system <plist path>'."""
    if os.path.exists(spec):
        for key, job in state["launchd"]["services"].items():
            if job["path"] == os.path.abspath(spec) and job["domain"] == domain:
                return str(key)
        try:
            with open(spec, "rb") as handle:
                return f"{domain}/{plistlib.load(handle).get('Label', '')}"
        except (plistlib.InvalidFileException, ValueError, AttributeError):
            return f"{domain}/"
    return f"{domain}/{spec}"


def lc_bootstrap(args: Sequence[str]) -> int:
    if len(args) < 2:
        # UNCONFIRMED: the bootstrap usage text (exit status 64 for usage errors: pingdotgg/t3code#11995).
        raise CommandError(64, "Usage: launchctl bootstrap <domain-target> [service-path ...]")
    with transaction() as state:
        for path in args[1:]:
            lc_bootstrap_one(state, args[0], path)
    return 0


def lc_bootout(args: Sequence[str]) -> int:
    if not args:
        # CONTRADICTED: https://github.com/pingdotgg/t3code/issues/11995 (real: "Usage: launchctl bootout <domain-target>
        #   [service-path1, service-path2, ...] | <service-target>" and more lines)
        raise CommandError(64, "Usage: launchctl bootout <domain-target> [service-path ...]")
    domain, label = (args[0], "") if len(args) > 1 else lc_split_target(args[0])
    with transaction() as state:
        key = lc_job_key_for(state, domain, args[1]) if len(args) > 1 else f"{domain}/{label}"
        job = state["launchd"]["services"].get(key)
        if job is None or lc_booting_out(job):
            # Source: https://github.com/DeterminateSystems/nix-installer/issues/1148 (bootout: status 3, stderr "Boot-out failed: 3: No such process")
            # UNCONFIRMED: the same status for a label that is still being booted out.
            raise CommandError(3, "Boot-out failed: 3: No such process")
        lc_begin_bootout(state, key, job)
    return 0


def lc_set_disabled(args: Sequence[str], disabled: bool) -> int:
    if len(args) != 1:
        # UNCONFIRMED: the enable/disable usage text.
        raise CommandError(64, "Usage: launchctl enable|disable <service-target>")
    domain, label = lc_split_target(args[0])
    with transaction() as state:
        state["launchd"]["disabled"].setdefault(domain, {})[label] = disabled
    return 0


def lc_kickstart(args: Sequence[str]) -> int:
    flags = {a for a in args if a.startswith("-")}
    targets = [a for a in args if not a.startswith("-")]
    if len(targets) != 1:
        # UNCONFIRMED: the kickstart usage text.
        raise CommandError(64, "Usage: launchctl kickstart [-kp] <service-target>")
    domain, label = lc_split_target(targets[0])
    with transaction() as state:
        job = state["launchd"]["services"].get(f"{domain}/{label}")
        if job is None or lc_booting_out(job):
            raise lc_not_found(domain, label)
        if job["state"] != "running":
            lc_start(state, job)
        elif "-k" in flags:
            job["last_exit"] = "-9"
            lc_start(state, job)
        pid = job["pid"]
    # UNCONFIRMED: that kickstart -p prints the bare pid.
    if "-p" in flags:
        out(str(pid))
    return 0


def lc_print_dict(name: str, items: dict[str, Any], indent: str) -> list[str]:
    lines = [f"{indent}{name} = {{"]
    lines += [f"{indent}\t{key} => {value}" for key, value in sorted(items.items())]
    return lines + [f"{indent}}}", ""]


# Source: https://github.com/boxen/puppet-boxen/issues/104 (OS X 10.10 launchctl print: active count, path, state, program, arguments,
#   working directory, stdout path, stderr path, environment, domain, username, runs, pid, last exit code)
# CONTRADICTED by that capture: its header is "dev.mysql = {" (here "system/<label> = {") and its domain line
#   "domain = com.apple.xpc.launchd.domain.system" (here "domain = system"); newer releases not checked.
# UNCONFIRMED: type = LaunchDaemon/LaunchAgent, "last exit code = (never exited)", "properties = keepalive | runatload".
def lc_print_job(job: dict[str, Any]) -> str:
    plist = job["plist"]
    arguments = [str(a) for a in plist.get("ProgramArguments", [])]
    running = job["state"] == "running"
    lines = [f"{job['domain']}/{job['label']} = {{",
             f"\tactive count = {1 if running else 0}",
             f"\tpath = {job['path']}",
             f"\ttype = {'LaunchDaemon' if job['domain'] == 'system' else 'LaunchAgent'}",
             f"\tstate = {job['state']}", "",
             f"\tprogram = {plist.get('Program', arguments[0] if arguments else '')}"]
    if arguments:
        lines += ["\targuments = {"] + [f"\t\t{a}" for a in arguments] + ["\t}"]
    lines.append("")
    for key, title in (("WorkingDirectory", "working directory"),
                       ("StandardOutPath", "stdout path"), ("StandardErrorPath", "stderr path")):
        if key in plist:
            lines.append(f"\t{title} = {plist[key]}")
    if plist.get("EnvironmentVariables"):
        lines += lc_print_dict("environment", plist["EnvironmentVariables"], "\t")
    lines.append(f"\tdomain = {job['domain']}")
    if "UserName" in plist:
        lines.append(f"\tusername = {plist['UserName']}")   # key confirmed: boxen/puppet-boxen#104
    lines.append(f"\truns = {job['runs']}")
    if running:
        lines.append(f"\tpid = {job['pid']}")
    last = job["last_exit"]
    lines.append(f"\tlast exit code = {'(never exited)' if last is None else last}")
    props = [p for p, on in (("keepalive", plist.get("KeepAlive")),
                             ("runatload", plist.get("RunAtLoad"))) if on]
    if props:
        lines.append(f"\tproperties = {' | '.join(props)}")
    lines.append("}")
    return "\n".join(lines)


def lc_print(args: Sequence[str]) -> int:
    if len(args) != 1:
        # UNCONFIRMED: the print usage text.
        raise CommandError(64, "Usage: launchctl print <domain-target | service-target>")
    domain, label = lc_split_target(args[0])
    job = read_state()["launchd"]["services"].get(f"{domain}/{label}")
    if job is None:
        raise lc_not_found(domain, label)
    out(lc_print_job(job))
    return 0


# Source: https://github.com/DeterminateSystems/nix-installer/pull/555 ("disabled services = {", then "\"label\" => disabled" lines)
# Source: https://github.com/usnistgov/macos_security/issues/167 (macOS 13 prints disabled/enabled; older releases printed true/false)
# UNCONFIRMED: the indentation of print-disabled (the nix-installer capture indents the header one level).
def lc_print_disabled(args: Sequence[str]) -> int:
    domain = args[0] if args else lc_default_domain()
    disabled = read_state()["launchd"]["disabled"].get(domain, {})
    out("disabled services = {")
    for label, flag in sorted(disabled.items()):
        out(f"\t\"{label}\" => {'disabled' if flag else 'enabled'}")
    out("}")
    return 0


# Legacy verbs, in the formats community.general.launchd parses.

# Source: https://github.com/Homebrew/brew/blob/aad366ffaf6a8c94c66d35e4b990d42ac4195305/Library/Homebrew/test/cask/artifact/shared_examples/uninstall_zap.rb
#   (a test fixture of "launchctl list <label>": { "LimitLoadToSessionType", "Label", "OnDemand", "LastExitStatus", ... };)
def lc_list_one(job: dict[str, Any]) -> None:
    plist = job["plist"]
    out("{")
    out(f"\t\"LimitLoadToSessionType\" = \"{'System' if job['domain'] == 'system' else 'Aqua'}\";")
    out(f"\t\"Label\" = \"{job['label']}\";")
    out(f"\t\"OnDemand\" = {'false' if plist.get('KeepAlive') else 'true'};")
    out(f"\t\"LastExitStatus\" = {0 if job['last_exit'] is None else job['last_exit']};")
    if job["pid"] is not None:
        out(f"\t\"PID\" = {job['pid']};")
    arguments = [str(a) for a in plist.get("ProgramArguments", [])]
    out(f"\t\"Program\" = \"{plist.get('Program', arguments[0] if arguments else '')}\";")
    if arguments:
        out("\t\"ProgramArguments\" = (")
        for argument in arguments:
            out(f"\t\t\"{argument}\";")
        out("\t);")
    out("};")


def lc_list(args: Sequence[str]) -> int:
    domain = lc_default_domain()
    jobs = {k: v for k, v in read_state()["launchd"]["services"].items() if v["domain"] == domain}
    if args:
        job = jobs.get(f"{domain}/{args[0]}")
        if job is None:
            # UNCONFIRMED: "Could not find service ... in domain for port" and exit status 113 from "launchctl list <label>".
            raise CommandError(113, f"Could not find service \"{args[0]}\" in domain for port")
        lc_list_one(job)
        return 0
    # Source: https://github.com/sosedoff/lunchy-go/issues/7 (launchctl list: "PID\tStatus\tLabel", "-" for a job that is not running)
    out("PID\tStatus\tLabel")
    for job in sorted(jobs.values(), key=lambda j: j["label"]):
        pid = "-" if job["pid"] is None else str(job["pid"])
        out(f"{pid}\t{0 if job['last_exit'] is None else job['last_exit']}\t{job['label']}")
    return 0


def lc_mark_plist_disabled(state: State, domain: str, path: str, *, disabled: bool) -> None:
    """What the legacy -w flag does: record the plist's label as (not) disabled."""
    label = lc_check_plist_file(path, domain)["Label"]
    state["launchd"]["disabled"].setdefault(domain, {})[label] = disabled


def lc_load(args: Sequence[str]) -> int:
    paths = [a for a in args if not a.startswith("-")]
    domain = lc_default_domain()
    with transaction() as state:
        for path in paths:
            if "-w" in args:
                lc_mark_plist_disabled(state, domain, path, disabled=False)
            try:
                lc_bootstrap_one(state, domain, path)
            except CommandError as error:
                # The legacy verb reports the same errno under another prefix.
                # Source: https://github.com/haimgel/display-switch/issues/85 ("Load failed: 5: Input/output error"; real adds a "Try running
                #   `launchctl bootstrap` as root for richer errors." line)
                raise CommandError(error.status, error.message.replace("Bootstrap", "Load")) from None
    return 0


def lc_unload(args: Sequence[str]) -> int:
    paths = [a for a in args if not a.startswith("-")]
    domain = lc_default_domain()
    with transaction() as state:
        for path in paths:
            if "-w" in args:
                lc_mark_plist_disabled(state, domain, path, disabled=True)
            if state["launchd"]["services"].pop(lc_job_key_for(state, domain, path), None) is None:
                # Source: https://github.com/m4rkw/macos-corner-fix/issues/3 ("Unload failed: 5: Input/output error")
                raise CommandError(5, "Unload failed: 5: Input/output error")
    return 0


def lc_legacy_control(args: Sequence[str], action: Callable[[State, dict[str, Any]], None]) -> int:
    if len(args) != 1:
        # UNCONFIRMED: the start/stop usage text.
        raise CommandError(64, "Usage: launchctl start|stop <service-name>")
    domain = lc_default_domain()
    with transaction() as state:
        job = state["launchd"]["services"].get(f"{domain}/{args[0]}")
        if job is None:
            # UNCONFIRMED: the wording and exit status 3 of start/stop for an unknown label.
            raise CommandError(3, f"{args[0]}: No such process")   # UNCONFIRMED wording
        action(state, job)
    return 0


def lc_legacy_start(state: State, job: dict[str, Any]) -> None:
    if job["state"] != "running":
        lc_start(state, job)


def lc_legacy_stop(state: State, job: dict[str, Any]) -> None:
    if job["state"] == "running":
        lc_stop(state, job)


LAUNCHCTL_VERBS: dict[str, Callable[[Sequence[str]], int]] = {
    "bootstrap": lc_bootstrap,
    "bootout": lc_bootout,
    "enable": lambda a: lc_set_disabled(a, False),
    "disable": lambda a: lc_set_disabled(a, True),
    "kickstart": lc_kickstart,
    "print": lc_print,
    "print-disabled": lc_print_disabled,
    "list": lc_list,
    "load": lc_load,
    "unload": lc_unload,
    "start": lambda a: lc_legacy_control(a, lc_legacy_start),
    "stop": lambda a: lc_legacy_control(a, lc_legacy_stop),
}


def launchctl_main(args: list[str]) -> int:
    if not args:
        # Source: https://github.com/kyleneideck/BackgroundMusic/issues/169 ("Unrecognized subcommand: X", "Usage: launchctl <subcommand> ... | help
        #   [subcommand]")
        # UNCONFIRMED: exit status 0 without arguments and 64 for an unknown subcommand.
        out("Usage: launchctl <subcommand> ... | help [subcommand]")
        return 0
    verb = LAUNCHCTL_VERBS.get(args[0])
    if verb is None:
        raise CommandError(64, f"Unrecognized subcommand: {args[0]}")
    return verb(args[1:])


# --------------------------------------------------------------------------
# ping (/sbin/ping): macOS's flags, run by the container's real ping
#
# Source: FreeBSD/macOS ping(8): -D "Set the Don't Fragment bit", -t timeout "Specify a timeout, in seconds,
#   before ping exits regardless of how many packets have been received", -s packetsize, -i wait, -c count,
#   -n numeric, -q quiet; the summary line "round-trip min/avg/max/stddev = 0.049/0.073/0.092/0.017 ms"
#   (https://man.freebsd.org/ping(8); macOS's ping is FreeBSD's).  Exit status 2 when no reply came back.
# UNCONFIRMED: the other exit statuses, and "ping: sendto: Message too long" being the only line for a DF
#   packet larger than the MTU.
# --------------------------------------------------------------------------

def ping_argv(args: Sequence[str]) -> list[str]:
    """The iputils ping command line for a macOS ping command line."""
    argv = [os.path.join(REAL_TOOLS_DIR, "ping")]
    dont_fragment = False
    items = list(args)
    while items:
        flag = items.pop(0)
        if flag in ("-n", "-q"):
            argv.append(flag)
        elif flag == "-D":
            dont_fragment = True
        elif flag in ("-c", "-s", "-i") and items:
            argv += [flag, items.pop(0)]
        elif flag == "-t" and items:
            argv += ["-w", items.pop(0)]
        elif flag.startswith("-"):
            raise CommandError(64, f"ping: simulated flag {flag} is not supported")
        else:
            argv.append(flag)
    # macOS sets no DF bit unless asked; Linux's default (path MTU discovery) would.
    return argv[:1] + ["-M", "do" if dont_fragment else "dont"] + argv[1:]


def ping_output(text: str) -> str:
    return re.sub(r"^rtt min/avg/max/mdev = ", "round-trip min/avg/max/stddev = ", text, flags=re.MULTILINE)


def ping_main(args: list[str]) -> int:
    done = subprocess.run(ping_argv(args), capture_output=True, text=True, check=False)
    sys.stdout.write(ping_output(done.stdout))
    if done.returncode == 0:
        return 0
    if "message too long" in done.stderr.lower():
        sys.stderr.write("ping: sendto: Message too long\n")
    return 2


# --------------------------------------------------------------------------
# newsyslog
#
# Source: newsyslog(8) and newsyslog.conf(5) of macOS (crontabs, from FreeBSD:
#   https://opensource.apple.com/source/crontabs/crontabs-51/newsyslog/newsyslog.conf.5.auto.html; FreeBSD's
#   https://man.freebsd.org/newsyslog(8)): a log due for rotation is renamed, so that "logfile" is empty,
#   "logfile.0" holds the last period's lines, "logfile.1" the one before, up to <count> archives; flag J
#   bzip2-compresses and Z gzip-compresses the archives (logfile.0.bz2), G makes the name a glob, N sends no
#   signal; size is in kilobytes ("*": no size limit), and -F forces the rotation.  A process that holds the
#   log open keeps writing to the renamed file, or to nothing once the archive was compressed.
# UNCONFIRMED: the archive mode/owner details and the when field, which is not simulated ("*" only; a when of
#   another value is treated as "not due" unless -F).
# --------------------------------------------------------------------------

NEWSYSLOG_CONF = "/etc/newsyslog.conf"
NEWSYSLOG_DIR = "/etc/newsyslog.d"


def nsl_rules(config: str | None) -> list[list[str]]:
    files = [config] if config else [NEWSYSLOG_CONF] + sorted(glob.glob(f"{NEWSYSLOG_DIR}/*.conf"))
    rules = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 5 and not fields[0].startswith("<"):
                if ":" not in fields[1]:
                    fields.insert(1, "")   # owner:group is optional
                rules.append(fields)
    return rules


def nsl_suffix(flags: str) -> str:
    return ".bz2" if "J" in flags else ".gz" if "Z" in flags else ""


def nsl_rotate(path: str, mode: str, count: int, flags: str) -> None:
    suffix = nsl_suffix(flags)
    for index in range(count - 1, 0, -1):
        older = f"{path}.{index - 1}{suffix}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index}{suffix}")
    archive = f"{path}.0"
    os.replace(path, archive)
    if suffix:
        opener = bz2.open if suffix == ".bz2" else gzip.open
        with open(archive, "rb") as source, opener(archive + suffix, "wb") as target:
            target.write(source.read())
        os.unlink(archive)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, int(mode, 8))
    os.close(fd)


def newsyslog_main(args: list[str]) -> int:
    force = "-F" in args
    config = args[args.index("-f") + 1] if "-f" in args and args.index("-f") + 1 < len(args) else None
    if not is_root():
        # UNCONFIRMED: the wording for a non-root caller (newsyslog needs to rename files in /var/log).
        raise CommandError(1, "newsyslog: must be run as root")
    for fields in nsl_rules(config):
        pattern, _owner, mode, count, size, when = fields[:6]
        flags = fields[6] if len(fields) > 6 else ""
        paths = sorted(glob.glob(pattern)) if "G" in flags else [pattern]
        for path in paths:
            if not os.path.isfile(path):
                continue
            kbytes = (os.path.getsize(path) + 1023) >> 10
            due = force or (size != "*" and kbytes > int(size))
            if due and (when == "*" or force):
                nsl_rotate(path, mode, int(count), flags)
    return 0


# --------------------------------------------------------------------------
# Directory services: dscl, dseditgroup, defaults
#
# On macOS getpwnam() and dscl show the same directory.  Here the records the
# simulator created are overlaid on the container's own passwd/group database,
# so a user that ansible.builtin.user made with useradd (Linux code path, see
# README) is also visible to `dscl . -read`.
# --------------------------------------------------------------------------

Record = dict[str, Any]


# Source: https://github.com/DeterminateSystems/nix-installer/issues/1427 (dscl -read: status 56, stderr "<dscl_cmd> DS Error: -14136 ...")
def ds_not_found() -> CommandError:
    return CommandError(56, "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)")


def nss_users() -> dict[str, Record]:
    return {p.pw_name: {"RecordName": p.pw_name, "UniqueID": str(p.pw_uid),
                        "PrimaryGroupID": str(p.pw_gid), "NFSHomeDirectory": p.pw_dir,
                        "UserShell": p.pw_shell, "RealName": p.pw_gecos.split(",")[0] or p.pw_name}
            for p in pwd.getpwall()}


def nss_groups() -> dict[str, Record]:
    return {g.gr_name: {"RecordName": g.gr_name, "PrimaryGroupID": str(g.gr_gid),
                        "GroupMembership": list(g.gr_mem)} for g in grp.getgrall()}


def ds_kind(path: str) -> tuple[str, str | None]:
    """'/Users/llama' -> ('users', 'llama'); '/Groups' -> ('groups', None)."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("Users", "Groups") or len(parts) > 2:
        # CONTRADICTED: https://github.com/swiftlang/swiftly/issues/346 ("read: Invalid Path" comes first, exit status 185)
        raise CommandError(56, "<dscl_cmd> DS Error: -14009 (eDSUnknownNodeName)")
    return parts[0].lower(), parts[1] if len(parts) == 2 else None


def ds_records(state: State, kind: str) -> dict[str, Record]:
    records = nss_users() if kind == "users" else nss_groups()
    for name in state["directory"]["deleted"][kind]:
        records.pop(name, None)
    records.update(state["directory"][kind])
    return records


def ds_values(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# Source: https://github.com/NixOS/nix/pull/11075 (dscl . read: "Key: value" lines; a multi-line value starts on the next line after one
#   space; "Password: ********")
def ds_format_attribute(key: str, value: Any) -> str:
    values = ds_values(value)
    if any(" " in v for v in values):
        return f"{key}:\n" + "\n".join(f" {v}" for v in values)
    return f"{key}: {' '.join(values)}".rstrip()


def dscl_read(state: State, path: str, keys: Sequence[str]) -> None:
    kind, name = ds_kind(path)
    record = ds_records(state, kind).get(name or "")
    if record is None:
        raise ds_not_found()
    for key in keys or sorted(record):
        if key not in record:
            # UNCONFIRMED: "No such key: X" and exit status 181.
            raise CommandError(181, f"No such key: {key}")
        out(ds_format_attribute(key, record[key]))


# CONTRADICTED: https://github.com/NixOS/nix/pull/11075 (dscl . list /Users UniqueID pads names to 25 columns; here to 24)
def dscl_list(state: State, path: str, keys: Sequence[str]) -> None:
    kind, _ = ds_kind(path)
    records = ds_records(state, kind)
    for name in sorted(records):
        if keys:
            value = " ".join(ds_values(records[name].get(keys[0], "")))
            out(f"{name.ljust(max(24, len(name) + 1))}{value}")
        else:
            out(name)


# UNCONFIRMED: the dscl -search output layout.
def dscl_search(state: State, path: str, key: str, value: str) -> None:
    kind, _ = ds_kind(path)
    for name, record in sorted(ds_records(state, kind).items()):
        values = ds_values(record.get(key, []))
        if value in values:
            out(f"{name}\t\t{key} = (")
            out("\n".join(f"    {v}" for v in values))
            out(")")


def ds_editable(state: State, kind: str, name: str) -> Record:
    """The record as stored in the simulator, copied in from NSS if need be."""
    stored: dict[str, Record] = state["directory"][kind]
    if name not in stored:
        record = ds_records(state, kind).get(name)
        if record is None:
            raise ds_not_found()
        stored[name] = record
    return stored[name]


def ds_create(state: State, kind: str, name: str) -> Record:
    if name in state["directory"]["deleted"][kind]:
        state["directory"]["deleted"][kind].remove(name)
    if name not in ds_records(state, kind):
        state["directory"][kind][name] = {"RecordName": name}
    return ds_editable(state, kind, name)


def ds_delete(state: State, kind: str, name: str) -> None:
    if name not in ds_records(state, kind):
        raise ds_not_found()
    state["directory"][kind].pop(name, None)
    state["directory"]["deleted"][kind].append(name)


def dscl_write(verb: str, path: str, rest: Sequence[str]) -> None:
    if not is_root():
        # Source: https://github.com/nvbn/thefuck/issues/403 (these two lines) and https://github.com/CZ4B/RDP/issues/9 (exit code 40)
        raise CommandError(40, "<main> attribute status: eDSPermissionError\n"
                               "<dscl_cmd> DS Error: -14120 (eDSPermissionError)")
    kind, name = ds_kind(path)
    if name is None:
        # UNCONFIRMED: "dscl: a record path is required" (macsim's wording).
        raise CommandError(64, "dscl: a record path is required")
    with transaction() as state:
        if verb == "-delete" and not rest:
            ds_delete(state, kind, name)
            return
        record = ds_create(state, kind, name) if verb == "-create" else ds_editable(state, kind, name)
        if verb == "-passwd":
            record["Password"] = "********"
            record["macsim_password_sha256"] = hashlib.sha256(rest[-1].encode()).hexdigest()
        elif verb == "-create" and rest:
            record[rest[0]] = list(rest[1:]) if len(rest) > 2 else (rest[1] if len(rest) > 1 else "")
        elif verb == "-append" and rest:
            record[rest[0]] = ds_values(record.get(rest[0], [])) + list(rest[1:])
        elif verb == "-delete":
            record.pop(rest[0], None)


def dscl_main(args: list[str]) -> int:
    if len(args) < 3:
        # UNCONFIRMED: the dscl usage and "Invalid command" texts and their exit status 64.
        raise CommandError(64, "Usage: dscl [options] [<datasource> [<command>]]")
    verb, path, rest = args[1], args[2], args[3:]   # args[0]: node, "." or /Local/Default
    if verb == "-read":
        dscl_read(read_state(), path, rest)
    elif verb == "-list":
        dscl_list(read_state(), path, rest)
    elif verb == "-search" and len(rest) == 2:
        dscl_search(read_state(), path, rest[0], rest[1])
    elif verb in ("-create", "-append", "-delete", "-passwd"):
        dscl_write(verb, path, rest)
    else:
        raise CommandError(64, f"Invalid command: {verb}")
    return 0


DSEDIT_VALUE_OPTIONS = {"-o", "-i", "-r", "-a", "-d", "-t", "-m", "-n", "-u", "-P", "-T", "-c", "-s", "-k", "-g"}


def dseditgroup_parse(args: Sequence[str]) -> tuple[dict[str, str], str | None]:
    options: dict[str, str] = {}
    positional: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word in DSEDIT_VALUE_OPTIONS and index + 1 < len(args):
            options[word] = args[index + 1]
            index += 2
            continue
        if word.startswith("-"):
            options[word] = ""
        else:
            positional.append(word)
        index += 1
    return options, positional[-1] if positional else None


def dsedit_apply(state: State, op: str, options: dict[str, str], name: str) -> None:
    groups = ds_records(state, "groups")
    if op == "create":
        if name in groups:
            # CONTRADICTED: https://github.com/DeterminateSystems/nix-installer/issues/1690 (create on an existing group: stdout "Create called on
            #   existing record - do you want to overwrite, y or n : ", stderr "Operation cancelled because record could not be replaced",
            #   exit status 73). Not simulated: "GID already exists", exit 64 (https://github.com/NixOS/nix-installer/issues/186).
            raise CommandError(1, "Group already exists.")   # CONTRADICTED, see above
        record = ds_create(state, "groups", name)
        record.update(PrimaryGroupID=options.get("-i") or dsedit_next_gid(groups),
                      GroupMembership=[], RealName=options.get("-r", name))
    elif op == "delete":
        ds_delete(state, "groups", name)
    elif op == "edit":
        record = ds_editable(state, "groups", name)
        members = ds_values(record.get("GroupMembership", []))
        if "-a" in options and options["-a"] not in members:
            members.append(options["-a"])
        if "-d" in options and options["-d"] in members:
            members.remove(options["-d"])
        record["GroupMembership"] = members
        if "-i" in options:
            record["PrimaryGroupID"] = options["-i"]


def dsedit_next_gid(groups: dict[str, Record]) -> str:
    used = {int(g["PrimaryGroupID"]) for g in groups.values() if "PrimaryGroupID" in g}
    return str(max([501] + [gid + 1 for gid in used if gid >= 501]))


# Source: https://github.com/webcoyote/sandvault/issues/6 ("Group not found.", exit code 64)
# UNCONFIRMED: the dseditgroup -o read layout (dsAttrTypeStandard:Key - / values).
def dseditgroup_read(name: str) -> int:
    record = ds_records(read_state(), "groups").get(name)
    if record is None:
        raise CommandError(64, "Group not found.")
    for key, value in sorted(record.items()):
        out(f"dsAttrTypeStandard:{key} -")
        out("\n".join(f"\t\t{v}" for v in ds_values(value)))
    return 0


# UNCONFIRMED: the checkmember answers "yes X is a member of G" / "no X is NOT a member of G" and exit status 0/1.
def dseditgroup_checkmember(member: str, name: str) -> int:
    record = ds_records(read_state(), "groups").get(name)
    if record is None:
        raise CommandError(64, "Group not found.")
    if member in ds_values(record.get("GroupMembership", [])):
        out(f"yes {member} is a member of {name}")
        return 0
    out(f"no {member} is NOT a member of {name}")
    return 1


def dseditgroup_main(args: list[str]) -> int:
    options, name = dseditgroup_parse(args)
    op = options.get("-o", "read")
    if name is None:
        # UNCONFIRMED: the dseditgroup usage text.
        raise CommandError(64, "Usage: dseditgroup [-pqv] [-o edit|create|delete|read|checkmember] groupname")
    if op == "read":
        return dseditgroup_read(name)
    if op == "checkmember":
        return dseditgroup_checkmember(options.get("-m", ""), name)
    if not is_root():
        # UNCONFIRMED: "Operation not permitted." and exit status 1 for a non-root dseditgroup edit.
        raise CommandError(1, "Operation not permitted.")
    with transaction() as state:
        dsedit_apply(state, op, options, name)
    return 0


# UNCONFIRMED: the defaults read rendering of scalars and arrays.
def defaults_render(value: Any) -> str:
    """Old-style plist text, as `defaults read` prints."""
    def word(item: Any) -> str:
        text = str(item)
        return text if re.fullmatch(r"[A-Za-z0-9_$+/:.-]+", text) else json.dumps(text)
    if isinstance(value, list):
        return "(\n" + ",\n".join(f"    {word(v)}" for v in value) + "\n)"
    return word(value)


def defaults_main(args: list[str]) -> int:
    if len(args) < 3 or args[0] not in ("read", "write", "delete"):
        # UNCONFIRMED: the defaults usage text.
        raise CommandError(1, "Command line interface to a user's defaults.")
    verb, domain, key, rest = args[0], args[1], args[2], args[3:]
    if verb == "read":
        value = read_state()["defaults"].get(domain, {}).get(key)
        if value is None:
            # Source: https://github.com/SummitRoute/osxlockdown/issues/50 (a log-prefixed first line, then "The domain/default pair of (D, K) does not exist")
            # Source: https://github.com/chrisrenga/alfred-tableplus/issues/7 (exit status 1)
            # CONTRADICTED in detail: the real first line carries "<date> defaults[pid:tid] "; here it is empty.
            raise CommandError(1, f"\nThe domain/default pair of ({domain}, {key}) does not exist")
        out(defaults_render(value))
        return 0
    with transaction() as state:
        entries = state["defaults"].setdefault(domain, {})
        if verb == "delete":
            entries.pop(key, None)
        elif rest[:1] == ["-array-add"]:
            entries[key] = list(entries.get(key, [])) + rest[1:]
        elif rest[:1] == ["-array"]:
            entries[key] = rest[1:]
        else:
            entries[key] = rest[-1] if rest else ""
    return 0


# --------------------------------------------------------------------------
# cmake (configure and build of llama.cpp on macOS)
# --------------------------------------------------------------------------

CMAKE_VERSION = "3.31.5"
# Source: https://github.com/ggml-org/llama.cpp/issues/9977 ("version: 3930 (9e041024)" / "built with Apple clang version 15.0.0 (clang-...)
#   for arm64-apple-darwin23.6.0")
# CONTRADICTED in detail: the real second line names the clang version and the darwin release. UNCONFIRMED: that it goes to stderr.
LLAMA_VERSION_LINES = ("version: 1 (0c1e570)", "built with Apple clang for arm64-apple-darwin")


def cmake_define(text: str) -> tuple[str, str, str]:
    """'-DNAME:TYPE=VALUE' body -> (NAME, TYPE, VALUE).

    Without a type, ON/OFF values are typed BOOL, as llama.cpp's option()
    declarations make them in a real cache; anything else is STRING.
    """
    name, _, value = text.partition("=")
    name, _, kind = name.partition(":")
    if not kind:
        kind = "BOOL" if value.upper() in ("ON", "OFF", "TRUE", "FALSE") else "STRING"
    return name, kind, value


def cmake_parse_configure(args: Sequence[str]) -> tuple[str, str, dict[str, list[str]]]:
    source, build, defines = ".", "", {}
    words = list(args)
    while words:
        word = words.pop(0)
        if word in ("-S", "-B", "-D", "-G") and words:
            word = word + words.pop(0)
        if word.startswith("-S"):
            source = word[2:]
        elif word.startswith("-B"):
            build = word[2:]
        elif word.startswith("-D"):
            name, kind, value = cmake_define(word[2:])
            defines[name] = [kind, value]
    if not build:
        build = os.getcwd()
    return os.path.abspath(source), os.path.abspath(build), defines


# UNCONFIRMED: the header lines of the simulated CMakeCache.txt.
def cmake_write_cache(build: str, source: str, cache: dict[str, list[str]]) -> None:
    os.makedirs(build, exist_ok=True)
    lines = ["# This is the CMakeCache file.", "# Written by macsim (simulated CMake).", "",
             f"CMAKE_HOME_DIRECTORY:INTERNAL={source}",
             "CMAKE_CXX_COMPILER:FILEPATH=/Library/Developer/CommandLineTools/usr/bin/c++",
             "CMAKE_OSX_ARCHITECTURES:STRING=arm64"]
    lines += [f"{name}:{kind}={value}" for name, (kind, value) in sorted(cache.items())]
    with open(os.path.join(build, "CMakeCache.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def cmake_configure(args: Sequence[str]) -> int:
    source, build, defines = cmake_parse_configure(args)
    if not os.path.isfile(os.path.join(source, "CMakeLists.txt")):
        # Source: https://github.com/apngasm/apngasm/issues/68 (this text); https://github.com/anyongjin/pylsd2/issues/1 shows the
        #   "Specify --help for usage, or press the help button on the CMake GUI." line that is left out here
        raise CommandError(1, f"CMake Error: The source directory \"{source}\" does not appear "
                              "to contain CMakeLists.txt.")
    with transaction() as state:
        require_clt_for_cmake(state)
        entry = state["cmake"]["builds"].setdefault(build, {"source": source, "cache": {},
                                                           "targets": {}, "configures": 0})
        entry["cache"].update(defines)     # a re-configure keeps earlier -D values
        entry["configures"] += 1
        cmake_write_cache(build, source, entry["cache"])
        openssl = cmake_openssl(state, entry["cache"])
    # UNCONFIRMED: the "-- The C/CXX compiler identification is AppleClang 16.0.0.16000026" lines.
    # Source: https://github.com/ingonyama-zk/icicle/issues/827 ("-- Configuring done (0.1s)", "-- Generating done (0.0s)",
    #   "-- Build files have been written to: <dir>")
    out("-- The C compiler identification is AppleClang 16.0.0.16000026")
    out("-- The CXX compiler identification is AppleClang 16.0.0.16000026")
    if openssl == "found":
        out(f"-- OpenSSL found: {FORMULAE['openssl@3']['version']}")
    elif openssl == "missing":
        sys.stderr.write("CMake Warning at vendor/cpp-httplib/CMakeLists.txt:154 (message):\n"
                         "  OpenSSL not found, HTTPS support disabled\n\n")
    out("-- Configuring done (0.1s)")
    out("-- Generating done (0.1s)")
    out(f"-- Build files have been written to: {build}")
    return 0


# Source: llama.cpp's vendor/cpp-httplib/CMakeLists.txt at the lab's pinned commit (LLAMA_OPENSSL, ON by
#   default: find_package(OpenSSL), then "OpenSSL found: <version>" or the warning "OpenSSL not found, HTTPS
#   support disabled"). macOS ships no OpenSSL headers: only Homebrew's openssl@3, found through
#   OPENSSL_ROOT_DIR (its prefix /opt/homebrew/opt/openssl@3), satisfies it. UNCONFIRMED: the warning's line number.
def cmake_openssl(state: State, cache: dict[str, Any]) -> str:
    """ "off", "found" or "missing": what llama.cpp's configure finds for LLAMA_OPENSSL."""
    if str(cache.get("LLAMA_OPENSSL", ("", "ON"))[1]).upper() in ("OFF", "0", "FALSE", "NO"):
        return "off"
    roots = str(cache.get("OPENSSL_ROOT_DIR", ("", ""))[1]).split(";")
    found = "openssl@3" in state["brew"]["installed"] and f"{BREW_PREFIX}/opt/openssl@3" in roots
    return "found" if found else "missing"


# Source: https://github.com/tangalbert919/AeroControlCenter/issues/1 ("CMake Error at CMakeLists.txt:3 (project):", "No CMAKE_CXX_COMPILER
#   could be found.", the CXX hint, "-- Configuring incomplete, errors occurred!"; on Linux)
# UNCONFIRMED: that on a Mac without the CLT the xcrun error comes first.
def require_clt_for_cmake(state: State) -> None:
    try:
        require_clt(state)
    except CommandError as error:
        raise CommandError(1, error.message + "\n"
                              "CMake Error at CMakeLists.txt:1 (project):\n"
                              "  No CMAKE_CXX_COMPILER could be found.\n\n"
                              "  Tell CMake where to find the compiler by setting either the "
                              "environment\n  variable \"CXX\" or the CMake cache entry "
                              "CMAKE_CXX_COMPILER to the full path\n  to the compiler, or to "
                              "the compiler name if it is in the PATH.\n\n"
                              "-- Configuring incomplete, errors occurred!")


def cmake_fake_binary(name: str) -> str:
    version = " ".join(f"'{line}'" for line in LLAMA_VERSION_LINES)
    return ("#!/bin/sh\n"
            f"# {name}: simulated Apple-silicon build made by macsim's cmake.\n"
            "case \"${1:-}\" in\n"
            f"  --version) printf '%s\\n' {version} >&2; exit 0 ;;\n"
            "esac\n"
            f"echo \"{name} (macsim): simulated binary, arguments: $*\" >&2\n"
            "exit 0\n")


def cmake_parse_build(args: Sequence[str]) -> tuple[str, list[str]]:
    build, targets, words = os.path.abspath(args[0]), [], list(args[1:])
    while words:
        word = words.pop(0)
        if word in ("--target", "-t"):
            while words and not words[0].startswith("-"):
                targets.append(words.pop(0))
        elif word in ("--config", "-j", "--parallel") and words and not words[0].startswith("-"):
            words.pop(0)
    return build, targets or ["all"]


def cmake_build(args: Sequence[str]) -> int:
    if not args:
        # UNCONFIRMED: the cmake --build usage text.
        raise CommandError(1, "Usage: cmake --build <dir> [options] [-- [native-options]]")
    build, targets = cmake_parse_build(args)
    with transaction() as state:
        entry = state["cmake"]["builds"].get(build)
        if entry is None or not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
            # Source: https://github.com/libgit2/libgit2/pull/4319 ("Error: could not load cache" and "[100%] Built target <t>")
            # Source: https://github.com/ingonyama-zk/icicle/issues/827 ("Error: could not load cache" on stderr, exit status 1)
            raise CommandError(1, "Error: could not load cache")
        require_clt(state)
        os.makedirs(os.path.join(build, "bin"), exist_ok=True)
        for target in targets:
            entry["targets"][target] = entry["targets"].get(target, 0) + 1
            if target != "all":
                cmake_install_binary(os.path.join(build, "bin", target), target)
            # Source: https://github.com/libgit2/libgit2/pull/4319 ("[100%] Built target libgit2_clar")
            out(f"[100%] Built target {target}")
    return 0


def cmake_install_binary(path: str, name: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(cmake_fake_binary(name))
    os.chmod(path, 0o755)


def cmake_main(args: list[str]) -> int:
    if not read_state()["brew"]["installed"].get("cmake"):
        # Only `brew install cmake` provides cmake on the Mac.
        # UNCONFIRMED: "cmake: command not found" (the wording is the shell's and differs between shells), exit 127.
        raise CommandError(127, "cmake: command not found")
    if args[:1] == ["--version"]:
        # Source: https://github.com/CMU-Perceptual-Computing-Lab/openpose/issues/1812 ("cmake version 3.16.3", blank line, "CMake suite ...")
        out(f"cmake version {CMAKE_VERSION}\n\nCMake suite maintained and supported by Kitware "
            "(kitware.com/cmake).")
        return 0
    if args[:1] == ["--build"]:
        return cmake_build(args[1:])
    return cmake_configure(args)


# --------------------------------------------------------------------------
# pfctl and the boot
#
# pf's runtime state (enabled or not, the enable references, the loaded
# rulesets) lives in state["pf"], made on first use.  A ruleset is a list of
# rule lines in the form `pfctl -s rules` prints them, keyed by anchor path
# ("" is the main ruleset).  `boot` clears it, as a reboot clears the kernel's.
# --------------------------------------------------------------------------

PF_CONF_ENV = "MACSIM_PF_CONF"                  # stock main ruleset, default /etc/pf.conf
DAEMONS_DIR_ENV = "MACSIM_LAUNCHDAEMONS"        # default /Library/LaunchDaemons
# Source: https://github.com/bettercap/bettercap/issues/162 and https://apple.stackexchange.com/questions/221058 (every pfctl call on a
#   Mac prints these two lines first; here on stderr, UNCONFIRMED: the stream)
PF_ALTQ = "No ALTQ support in kernel\nALTQ related functions disabled"
# Source: https://github.com/basecamp/pow/issues/452 (the warning `pfctl -f` prints for the main ruleset, OS X 10.11)
PF_FLUSH_WARNING = ("pfctl: Use of -f option, could result in flushing of rules\n"
                    "present in the main ruleset added by the system at startup.\n"
                    "See /etc/pf.conf for further details.\n")
# Source: https://github.com/sitespeedio/throttle/pull/9 (README: "pfctl: Syntax error in config file: pf rules not loaded")
PF_NOT_LOADED = "pfctl: Syntax error in config file: pf rules not loaded"
# pf.conf(5) statement order, as pfctl enforces it (set require-order, on by default); Apple's stock file
# keeps scrub-anchor, nat/rdr-anchor, dummynet-anchor, anchor in this order.
PF_ORDER = {"scrub-anchor": 1, "nat-anchor": 2, "rdr-anchor": 2, "dummynet-anchor": 3,
            "anchor": 4, "pass": 4, "block": 4}
PF_STATEMENT = re.compile(r"(scrub-anchor|nat-anchor|rdr-anchor|dummynet-anchor|anchor)\s+\"([^\"]+)\"$")
PF_LOAD = re.compile(r"load\s+anchor\s+\"([^\"]+)\"\s+from\s+\"([^\"]+)\"$")
PF_RULE = re.compile(r"(pass|block(?:\s+return)?)\s+(in|out)(\s+quick)?(?:\s+on\s+(\S+))?"
                     r"(?:\s+(inet6?))?\s+proto\s+(tcp|udp)\s+from\s+(\{[^}]*\}|\S+)"
                     r"\s+to\s+(\{[^}]*\}|\S+)(?:\s+port\s+(\d+))?$")


def pf_state(state: State) -> dict[str, Any]:
    return state.setdefault("pf", {"enabled": False, "since": 0, "tokens": [], "refcount": 0,
                                   "next_token": 18446741874803030016, "rulesets": {}})


def pf_syntax_error(path: str, number: int) -> CommandError:
    # UNCONFIRMED: the "<file>:<line>: syntax error" line before PF_NOT_LOADED.
    return CommandError(1, f"{path}:{number}: syntax error\n{PF_NOT_LOADED}")


def pf_hosts(text: str) -> list[str]:
    return [h for h in re.split(r"[\s,]+", text.strip("{} ")) if h] if text.startswith("{") else [text]


def pf_expand_rule(match: re.Match[str]) -> list[str]:
    """A pass/block rule as `pfctl -s rules` prints it: one rule per listed address."""
    action, direction, quick, interface, family, proto, sources, targets, port = match.groups()
    rules = []
    for source in pf_hosts(sources):
        for target in pf_hosts(targets):
            inet = family or ("inet" if valid_ipv4(source) or valid_ipv4(target) else "")
            words = [" ".join(action.split()), direction] + (["quick"] if quick else [])
            words += [f"on {interface}"] if interface else []
            words += [inet] if inet else []
            words += [f"proto {proto}", f"from {source}", f"to {target}"]
            # Source: https://github.com/osquery/osquery/issues/1521 (macOS prints a single port as "port = 5353", a pass rule with
            #   "keep state"). UNCONFIRMED: "flags S/SA keep state" on a tcp pass rule (pf's default since OpenBSD 4.1) and "inet".
            words += [f"port = {port}"] if port else []
            if action == "pass":
                words.append("flags S/SA keep state" if proto == "tcp" else "keep state")
            rules.append(" ".join(words))
    return rules


def pf_parse(path: str, anchor: str, loads: dict[str, list[str]], text: str | None = None) -> None:
    """Parse a pf.conf-style file into loads[anchor], following `load anchor` lines.

    Only what Apple's stock files and this project's anchor use: the anchor
    statements, `load anchor`, and pass/block rules on tcp/udp.  Anything
    else (macros, tables, options, nat rules) is refused as a syntax error, so
    a role cannot lean on syntax the simulator does not check.
    """
    if text is None:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            # UNCONFIRMED: the wording for a file pfctl cannot open.
            raise CommandError(1, f"pfctl: {path}: {error.strerror}\n{PF_NOT_LOADED}") from None
    rules: list[str] = []
    later: list[tuple[str, str]] = []
    level = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = " ".join(raw.split("#", 1)[0].split())
        if not line:
            continue
        statement, load, rule = PF_STATEMENT.match(line), PF_LOAD.match(line), PF_RULE.match(line)
        kind = statement.group(1) if statement else (line.split()[0] if rule else "load" if load else "")
        if kind not in PF_ORDER and kind != "load":
            raise pf_syntax_error(path, number)
        if kind != "load":
            if PF_ORDER[kind] < level:
                # Source: pf.conf(5), STATEMENT ORDER (https://manp.gs/mac/5/pf.conf). UNCONFIRMED: the exact message.
                raise CommandError(1, f"{path}:{number}: Rules must be in order: options, normalization, "
                                      f"queueing, translation, filtering\n{PF_NOT_LOADED}")
            level = PF_ORDER[kind]
        if statement:
            suffix = {"scrub-anchor": " all fragment reassemble", "anchor": " all"}.get(kind, "")
            # Source: https://apple.stackexchange.com/questions/221058 (stock `pfctl -s rules`:
            #   'scrub-anchor "com.apple/*" all fragment reassemble' and 'anchor "com.apple/*" all')
            rules.append(f"{kind} \"{statement.group(2)}\"{suffix}")
        elif load:
            name = load.group(1) if not anchor else f"{anchor}/{load.group(1)}"
            later.append((name, load.group(2)))
        elif rule:
            rules.extend(pf_expand_rule(rule))
    loads[anchor] = rules
    for name, source in later:
        pf_parse(source, name, loads)


def pf_show_rules(pf: dict[str, Any], anchor: str) -> int:
    rules = pf["rulesets"].get(anchor)
    if rules is None and anchor:
        # An anchor that holds nothing does not exist (pf removes an emptied ruleset), and the kernel
        # answers DIOCGETRULES with EINVAL for it (xnu bsd/net/pf_ioctl.c: pf_find_ruleset() is NULL).
        # UNCONFIRMED: that pfctl then exits 1 with this line.
        raise CommandError(1, "pfctl: DIOCGETRULES: Invalid argument")
    for rule in rules or []:
        if not rule.startswith(("nat-anchor", "rdr-anchor", "dummynet-anchor")):
            out(rule)
    return 0


def pf_show_info(pf: dict[str, Any]) -> int:
    # Source: https://github.com/opnsense/core/issues/1578 and https://github.com/mikaku/Monitorix/issues/297 (first line
    #   "Status: Enabled for 0 days 11:50:53" padded to 44 columns, "Debug: Urgent" right-aligned in 15, a blank line,
    #   "State Table ... Total ... Rate"); https://github.com/Homebrew/legacy-homebrew/issues/42599 (a Mac answers "Disabled").
    # UNCONFIRMED: "Status: Disabled" with no duration on macOS, and the shortened State Table block.
    if pf["enabled"]:
        elapsed = max(0, int(time.time()) - int(pf["since"]))
        days, rest = divmod(elapsed, 86400)
        status = f"Status: Enabled for {days} days {rest // 3600:02}:{rest % 3600 // 60:02}:{rest % 60:02}"
    else:
        status = "Status: Disabled"
    out(f"{status:<44}{'Debug: Urgent':>15}\n")
    out(f"{'State Table':<37}{'Total':<18}Rate")
    out(f"  {'current entries':<28}{0:>10}               ")
    return 0


def pf_show_anchors(pf: dict[str, Any], verbose: bool) -> int:
    # Source: https://github.com/osquery/osquery/issues/1521 (`pfctl -v -s Anchors`: " com.apple", " com.apple/200.AirDrop", ...)
    for name in sorted(n for n in pf["rulesets"] if n and (verbose or "/" not in n)):
        out(f" {name}")
    return 0


def pf_enable(pf: dict[str, Any], with_reference: bool) -> None:
    # Source: xnu bsd/net/pf_ioctl.c (https://github.com/apple-oss-distributions/xnu/blob/1031c584a5e37aff177559b9f69dbd3c8c3fd30a/bsd/net/pf_ioctl.c):
    #   DIOCSTARTREF (-E) starts pf if it is off, adds one enable reference and returns a new token; DIOCSTART (-e)
    #   fails with EEXIST when pf runs.  pfctl(8) (https://manp.gs/mac/8/pfctl): -E enables and increments the
    #   reference count, -X releases the reference of a token.
    if not with_reference and pf["enabled"]:
        # Source: https://github.com/bettercap/bettercap/issues/162 ("pfctl: pf already enabled", exit status 1)
        raise CommandError(1, "pfctl: pf already enabled")
    if not pf["enabled"]:
        pf.update(enabled=True, since=int(time.time()))
    pf["refcount"] += 1
    # Source: https://github.com/ProcursusTeam/Procursus/issues/1418 ("pf enabled"). UNCONFIRMED: that -E prints it again when pf ran.
    sys.stderr.write("pf enabled\n")
    if with_reference:
        token = int(pf["next_token"])
        pf["next_token"] = token + 64
        pf["tokens"].append(token)
        # Source: https://github.com/dlenski/vpn-slice/blob/master/vpn_slice/mac.py (reads "Token : (\d+)" from -E's stderr)
        sys.stderr.write(f"Token : {token}\n")


def pf_disable(pf: dict[str, Any], token: str | None) -> None:
    if not pf["enabled"]:
        # DIOCSTOP / DIOCSTOPREF answer ENOENT when pf is off (xnu pf_ioctl.c). UNCONFIRMED: this wording.
        raise CommandError(1, "pfctl: pf not enabled")
    if token is None:
        # -d stops pf whoever holds a reference and invalidates every token (xnu: pf_stop(); pf_enabled_ref_count = 0;
        #   invalidate_all_tokens()). Source for the text: https://github.com/Ettercap/ettercap/pull/641 ("pf disabled").
        pf.update(enabled=False, since=int(time.time()), tokens=[], refcount=0)
        sys.stderr.write("pf disabled\n")
        return
    if parse_int(token) not in pf["tokens"]:
        # xnu: a token that is not held gives EINVAL. UNCONFIRMED: this wording.
        raise CommandError(1, "pfctl: DIOCSTOPREF: Invalid argument")
    pf["tokens"].remove(parse_int(token))
    pf["refcount"] -= 1
    if pf["refcount"] <= 0:
        pf.update(enabled=False, since=int(time.time()), refcount=0)
        sys.stderr.write("pf disabled\n")    # UNCONFIRMED: what -X prints when the last reference goes.
    else:
        sys.stderr.write("pf enable reference removed\n")   # UNCONFIRMED


def pf_flush(pf: dict[str, Any], anchor: str) -> None:
    pf["rulesets"] = {n: r for n, r in pf["rulesets"].items() if n != anchor and not n.startswith(anchor + "/")} \
        if anchor else {n: r for n, r in pf["rulesets"].items() if n}
    # Source: https://github.com/Ettercap/ettercap/pull/641 (what `pfctl -F all` prints for the main ruleset); for an
    #   anchor only the first four lines (a public capture of `pfctl -a com.apple/250.X -F all`, found by find_string, unattributed).
    lines = "rules cleared\nnat cleared\ndummynet cleared\n0 tables deleted.\n"
    if not anchor:
        lines += "0 states cleared\nsource tracking entries cleared\npf: statistics cleared\npf: interface flags reset\n"
    sys.stderr.write(lines)


def pf_options(args: Sequence[str]) -> dict[str, Any]:
    """pfctl's getopt: single-letter flags, bundled (-Ef, -sr) or apart, values attached or next."""
    options: dict[str, Any] = {"flags": set()}
    words = list(args)
    while words:
        word = words.pop(0)
        if not word.startswith("-") or word == "-":
            raise CommandError(1, "usage: pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier]")
        letters = word[1:]
        while letters:
            letter, letters = letters[0], letters[1:]
            if letter in "afsFX":
                value = letters or (words.pop(0) if words else None)
                if value is None:
                    raise CommandError(1, f"pfctl: option requires an argument -- {letter}")
                options[letter] = value
                letters = ""
            elif letter in "EedqnvN":
                options["flags"].add(letter)
            else:
                # UNCONFIRMED: the usage line for an unknown flag; other pfctl options are not simulated.
                raise CommandError(1, f"pfctl: macsim does not simulate -{letter}\n"
                                      "usage: pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier]")
    return options


def pfctl_main(args: list[str]) -> int:
    options = pf_options(args)
    flags, anchor = options["flags"], options.get("a", "").strip("/")
    if not is_root():
        # /dev/pf is root's (crw-------), and pfioctl() refuses a non-root caller with EPERM (xnu pf_ioctl.c).
        # UNCONFIRMED: the text, pfctl's err(1, "/dev/pf").
        raise CommandError(1, "pfctl: /dev/pf: Permission denied")
    sys.stderr.write(PF_ALTQ + "\n")
    loads: dict[str, list[str]] = {}
    if "f" in options:
        path = options["f"]
        text = sys.stdin.read() if path == "-" else None
        pf_parse(path, anchor, loads, text)
        if "n" in flags:
            return 0                     # -n: parse only
    with transaction() as state:
        pf = pf_state(state)
        # The order of pfctl's main(): disable, show, flush, load, enable.
        if "d" in flags:
            pf_disable(pf, None)
        if "X" in options:
            pf_disable(pf, options["X"])
        show = options.get("s")
        if show is not None:
            if show in ("rules", "r"):
                pf_show_rules(pf, anchor)
            elif show in ("info", "i"):
                pf_show_info(pf)
            elif show in ("Anchors", "A"):
                pf_show_anchors(pf, "v" in flags)
            else:
                raise CommandError(1, f"pfctl: macsim does not simulate -s {show}")
        if "F" in options:
            if options["F"] not in ("all", "rules", "a", "r"):
                raise CommandError(1, f"pfctl: macsim does not simulate -F {options['F']}")
            pf_flush(pf, anchor)
        if loads:
            if not anchor:
                sys.stderr.write(PF_FLUSH_WARNING + "\n")
            # A load replaces the rulesets it names and leaves every other anchor as it was:
            # a nested anchor outlives a reload of the main ruleset (Apple's pf.conf comment).
            pf["rulesets"].update({name: rules for name, rules in loads.items()})
            pf["rulesets"] = {n: r for n, r in pf["rulesets"].items() if r or not n}
        if "E" in flags or "e" in flags:
            pf_enable(pf, "E" in flags)
    return 0


def boot_run_program(argv: list[str], plist: dict[str, Any]) -> int:
    """Run a simulated command in-process, its output going where launchd would send it."""
    def sink(key: str) -> Any:
        return open(plist[key], "a", encoding="utf-8") if plist.get(key) else open(os.devnull, "w", encoding="utf-8")
    with sink("StandardOutPath") as stdout, sink("StandardErrorPath") as stderr, \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            return COMMANDS[os.path.basename(argv[0])](argv[1:])
        except CommandError as error:
            if error.message:
                sys.stderr.write(error.message + "\n")
            return error.status


def boot_main(args: list[str]) -> int:
    """What a restart of the Mac does to pf and launchd: `macsim.py boot`.

    pf comes back disabled with no runtime rules; the system domain comes back
    empty and launchd bootstraps each plist in /Library/LaunchDaemons again
    (disabled labels excepted).  A RunAtLoad job whose ProgramArguments[0] is a
    simulated command (pfctl, networksetup, ...) has that command run, as
    root, its output appended to its StandardOutPath/StandardErrorPath; no
    other program is run.  Last, Apple's com.apple.pfctl loads /etc/pf.conf
    without enabling pf (Source: https://github.com/Homebrew/legacy-homebrew/issues/42599: it runs
    `pfctl -f /etc/pf.conf`; Apple's pf.conf: "PF will not be automatically enabled").  It runs after
    the project's daemons here, the order least kind to a daemon that loads a main ruleset of its own.
    """
    if args:
        raise CommandError(64, "usage: macsim.py boot")
    if not is_root():
        raise CommandError(1, "macsim boot: only root can restart the Mac")
    directory = os.environ.get(DAEMONS_DIR_ENV, "/Library/LaunchDaemons")
    jobs: list[tuple[str, list[str], dict[str, Any]]] = []
    with transaction() as state:
        pf = pf_state(state)
        pf.update(enabled=False, since=int(time.time()), tokens=[], refcount=0, rulesets={})
        launchd = state["launchd"]
        for key, value in list(launchd.items()):
            if isinstance(value, dict) and key != "disabled":
                launchd[key] = {k: v for k, v in value.items() if not str(k).startswith("system/")}
        names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
        for name in (n for n in names if n.endswith(".plist")):
            try:
                label = lc_bootstrap_one(state, "system", os.path.join(directory, name))
            except CommandError as error:
                out(f"boot: {name} not loaded: {error.message}")
                continue
            job = launchd["services"][f"system/{label}"]
            argv = [str(a) for a in job["plist"].get("ProgramArguments", [])]
            runs_here = argv and os.path.basename(argv[0]) in COMMANDS and os.path.basename(argv[0]) != "boot"
            if job["plist"].get("RunAtLoad") and runs_here and job["plist"].get("UserName", "root") == "root":
                jobs.append((label, argv, job["plist"]))
            out(f"boot: loaded {label}")
    for label, argv, plist in jobs:
        status = boot_run_program(argv, plist)
        with transaction() as state:
            job = state["launchd"]["services"].get(f"system/{label}")
            if job is not None and not job["plist"].get("KeepAlive"):
                job.update(pid=None, state="not running", last_exit=str(status))
        out(f"boot: ran {label}: {' '.join(argv)} (exit {status})")
    pf_conf = os.environ.get(PF_CONF_ENV, "/etc/pf.conf")
    if os.path.isfile(pf_conf):
        status = boot_run_program(["/sbin/pfctl", "-f", pf_conf], {})
        out(f"boot: ran com.apple.pfctl: /sbin/pfctl -f {pf_conf} (exit {status})")
    return 0


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "networksetup": networksetup_main,
    "ifconfig": ifconfig_main,
    "sw_vers": sw_vers_main,
    "xcode-select": xcode_select_main,
    "brew": brew_main,
    "launchctl": launchctl_main,
    "dscl": dscl_main,
    "dseditgroup": dseditgroup_main,
    "defaults": defaults_main,
    "cmake": cmake_main,
    "pfctl": pfctl_main,
    "boot": boot_main,
    "newsyslog": newsyslog_main,
    "ping": ping_main,
    "clang": clang_main,
    "xcodebuild": xcodebuild_main,
    "macsim-log": macsim_log_main,
}


def main(argv: Sequence[str]) -> int:
    name = os.path.basename(argv[0])
    args = list(argv[1:])
    if name not in COMMANDS and args and args[0] in COMMANDS:
        name, args = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        sys.stderr.write(f"macsim: simulated commands: {', '.join(sorted(COMMANDS))}\n")
        return 64
    try:
        return command(args)
    except CommandError as error:
        if error.message:
            sys.stderr.write(error.message + "\n")
        return error.status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
