"""Tests of the macOS command simulator (tests/macsim).

The simulator runs as a subprocess through symlinks named after each command,
with its state in a temporary file, exactly as it runs in the lab container.
The last tests drive the real community.general modules and the macsim_facts
module against it with ansible-playbook.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import plistlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

MACSIM_DIR = Path(__file__).resolve().parents[1] / "macsim"
SIMULATOR = MACSIM_DIR / "macsim.py"
COMMANDS = (
    "networksetup",
    "ifconfig",
    "sw_vers",
    "xcode-select",
    "brew",
    "launchctl",
    "dscl",
    "dseditgroup",
    "defaults",
    "cmake",
    "newsyslog",
    "macsim-log",
)
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
IS_ROOT = os.geteuid() == 0


class Mac:
    """One simulated Mac: a bin directory of command links and a state file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        for command in COMMANDS:
            (self.bin / command).symlink_to(SIMULATOR)
        self.state_path = root / "state" / "state.json"
        self.env = dict(
            os.environ,
            MACSIM_STATE=str(self.state_path),
            PATH=f"{self.bin}:{os.environ['PATH']}",
        )

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(self.bin / command), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )

    def ok(self, command: str, *args: str) -> str:
        result = self.run(command, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def state(self) -> dict[str, Any]:
        self.ok("sw_vers")  # creates the default state on first use
        loaded: dict[str, Any] = json.loads(self.state_path.read_text())
        return loaded

    def edit_state(self, section: str, **values: Any) -> None:
        state = self.state()
        state[section].update(values)
        self.state_path.write_text(json.dumps(state))

    def write_plist(self, label: str, mode: int = 0o644, **keys: Any) -> Path:
        path = self.root / f"{label}.plist"
        job = {
            "Label": label,
            "ProgramArguments": ["/opt/llama/bin/rpc-server", "--port", "50052"],
        }
        job.update(keys)
        path.write_bytes(plistlib.dumps(job))
        path.chmod(mode)
        return path


@pytest.fixture
def mac(tmp_path: Path) -> Mac:
    return Mac(tmp_path)


def print_field(text: str, field: str) -> str:
    """Value of a top-level `field = value` line of `launchctl print` output."""
    for line in text.splitlines():
        if line.startswith(f"\t{field} = "):
            return line.split(" = ", 1)[1]
    raise AssertionError(f"{field} not in:\n{text}")


# ---------------------------------------------------------------- networksetup


def test_set_mtu_is_what_get_mtu_returns(mac: Mac) -> None:
    mac.ok("networksetup", "-setMTU", "en0", "9000")
    assert (
        mac.ok("networksetup", "-getMTU", "en0")
        == "Active MTU: 9000 (Current Setting: 9000)\n"
    )
    assert mac.ok("networksetup", "-getMTU", "Ethernet").startswith("Active MTU: 9000 ")


@pytest.mark.parametrize("value", ["1279", "9001", "jumbo"])
def test_out_of_range_mtu_is_refused_and_nothing_changes(mac: Mac, value: str) -> None:
    before = mac.state()
    result = mac.run("networksetup", "-setMTU", "en0", value)
    assert (result.returncode, result.stderr) == (
        4,
        "** Error: The parameters were not valid.\n",
    )
    assert mac.state() == before
    assert (
        mac.ok("networksetup", "-getMTU", "en0")
        == "Active MTU: 1500 (Current Setting: 1500)\n"
    )


def test_valid_mtu_range_is_per_device(mac: Mac) -> None:
    assert (
        mac.ok("networksetup", "-listValidMTURange", "en0")
        == "Valid MTU Range: 1280-9000\n"
    )
    assert (
        mac.ok("networksetup", "-listvalidMTUrange", "Wi-Fi")
        == "Valid MTU Range: 1280-1500\n"
    )


def test_setmanual_is_shown_by_getinfo(mac: Mac) -> None:
    mac.ok(
        "networksetup",
        "-setmanual",
        "Ethernet",
        "10.10.0.2",
        "255.255.255.0",
        "10.10.0.1",
    )
    assert mac.ok("networksetup", "-getinfo", "Ethernet").splitlines() == [
        "Manual Configuration",
        "IP address: 10.10.0.2",
        "Subnet mask: 255.255.255.0",
        "Router: 10.10.0.1",
        "IPv6: Automatic",
        "IPv6 IP address: none",
        "IPv6 Router: none",
        "Ethernet Address: 3c:a6:f6:10:20:30",
    ]


def test_setmanual_is_shown_by_ifconfig(mac: Mac) -> None:
    mac.ok("networksetup", "-setmanual", "Ethernet", "10.10.0.2", "255.255.0.0", "")
    assert "\tinet 10.10.0.2 netmask 0xffff0000 broadcast 10.10.255.255\n" in mac.ok(
        "ifconfig", "en0"
    )


def test_setdhcp_brings_back_the_lease(mac: Mac) -> None:
    mac.ok("networksetup", "-setmanual", "Ethernet", "10.10.0.2", "255.255.255.0", "")
    mac.ok("networksetup", "-setdhcp", "Ethernet")
    info = mac.ok("networksetup", "-getinfo", "Ethernet").splitlines()
    assert info[:2] == ["DHCP Configuration", "IP address: 192.168.1.50"]


def test_setmanual_rejects_a_bad_address(mac: Mac) -> None:
    result = mac.run(
        "networksetup", "-setmanual", "Ethernet", "10.10.0.300", "255.255.255.0", ""
    )
    assert result.returncode == 4
    assert mac.state()["network"]["services"][0]["config"] == "dhcp"


def test_setmanual_needs_the_router_argument_of_the_synopsis(mac: Mac) -> None:
    result = mac.run("networksetup", "-setmanual", "Ethernet", "10.10.0.2", "255.255.255.0")
    assert result.returncode == 4
    assert mac.state()["network"]["services"][0]["config"] == "dhcp"


def test_a_disabled_service_is_enabled_again(mac: Mac) -> None:
    mac.ok("networksetup", "-setnetworkserviceenabled", "Ethernet", "off")
    assert mac.ok("networksetup", "-getnetworkserviceenabled", "Ethernet") == "Disabled\n"
    assert "(*1) Ethernet" in mac.ok("networksetup", "-listnetworkserviceorder")
    mac.ok("networksetup", "-setnetworkserviceenabled", "Ethernet", "on")
    assert mac.ok("networksetup", "-getnetworkserviceenabled", "Ethernet") == "Enabled\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("-getinfo", "Thunderbolt"),
            "Thunderbolt is not a recognized network service.",
        ),
        (
            ("-setdhcp", "Thunderbolt"),
            "Thunderbolt is not a recognized network service.",
        ),
        (("-getMTU", "en7"), "Could not find hardware port or device named en7."),
        (("-getMedia", "en7"), "Could not find hardware port or device named en7."),
    ],
)
def test_unknown_service_or_device_gives_the_real_error(
    mac: Mac, args: tuple[str, ...], message: str
) -> None:
    result = mac.run("networksetup", *args)
    assert result.returncode == 4
    assert result.stderr.splitlines() == [
        message,
        "** Error: The parameters were not valid.",
    ]


def test_service_order_lists_port_and_device(mac: Mac) -> None:
    assert mac.ok("networksetup", "-listnetworkserviceorder") == (
        "An asterisk (*) denotes that a network service is disabled.\n"
        "(1) Ethernet\n(Hardware Port: Ethernet, Device: en0)\n\n"
        "(2) Wi-Fi\n(Hardware Port: Wi-Fi, Device: en1)\n\n"
    )


def test_hardware_ports_and_media(mac: Mac) -> None:
    ports = mac.ok("networksetup", "-listallhardwareports")
    assert (
        "Hardware Port: Ethernet\nDevice: en0\nEthernet Address: 3c:a6:f6:10:20:30\n"
        in ports
    )
    assert (
        mac.ok("networksetup", "-getMedia", "en0")
        == "Current: autoselect\nActive: 10GbaseT <full-duplex>\n"
    )


# -------------------------------------------------------------------- ifconfig


def test_ifconfig_lists_state_devices(mac: Mac) -> None:
    assert mac.ok("ifconfig", "-l") == "lo0 en0 en1\n"
    result = mac.run("ifconfig", "en5")
    assert (result.returncode, result.stderr) == (
        1,
        "ifconfig: interface en5 does not exist\n",
    )


def test_ifconfig_shows_mtu_media_and_status(mac: Mac) -> None:
    mac.ok("networksetup", "-setMTU", "en0", "9000")
    lines = mac.ok("ifconfig", "en0").splitlines()
    assert (
        lines[0]
        == "en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 9000"
    )
    assert lines[-2:] == [
        "\tmedia: autoselect (10GbaseT <full-duplex>)",
        "\tstatus: active",
    ]


def test_ifconfig_mtu_changes_only_the_active_value(mac: Mac) -> None:
    mac.ok("ifconfig", "en0", "mtu", "4000")
    assert (
        mac.ok("networksetup", "-getMTU", "en0")
        == "Active MTU: 4000 (Current Setting: 1500)\n"
    )


# --------------------------------------------------------- sw_vers, xcode-select


def test_sw_vers_reads_the_state(mac: Mac) -> None:
    mac.edit_state("system", product_version="15.4", build_version="24E248")
    assert (
        mac.ok("sw_vers")
        == "ProductName:\t\tmacOS\nProductVersion:\t\t15.4\nBuildVersion:\t\t24E248\n"
    )
    assert mac.ok("sw_vers", "-productVersion") == "15.4\n"


def test_xcode_select_prints_the_clt_path(mac: Mac) -> None:
    assert mac.ok("xcode-select", "-p") == "/Library/Developer/CommandLineTools\n"


def test_xcode_select_without_clt_exits_2(mac: Mac) -> None:
    mac.edit_state("xcode", clt_installed=False)
    result = mac.run("xcode-select", "-p")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "xcode-select: error: unable to get active developer directory"
    )


def test_xcode_select_install_only_requests(mac: Mac) -> None:
    mac.edit_state("xcode", clt_installed=False)
    result = mac.run("xcode-select", "--install")
    assert (result.returncode, result.stderr) == (
        0,
        "xcode-select: note: install requested for command line developer tools\n",
    )
    assert mac.state()["xcode"] == {"clt_installed": False, "install_requests": 1, "license_accepted": True}
    assert mac.run("xcode-select", "-p").returncode == 2


def test_xcode_select_install_when_installed_fails(mac: Mac) -> None:
    result = mac.run("xcode-select", "--install")
    assert result.returncode == 1
    assert "command line tools are already installed" in result.stderr


# ------------------------------------------------------------------- launchctl


def test_bootstrap_loads_and_runs_a_run_at_load_job(mac: Mac) -> None:
    plist = mac.write_plist(
        "org.llama.rpc", RunAtLoad=True, KeepAlive=True, UserName="_llama"
    )
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    printed = mac.ok("launchctl", "print", "system/org.llama.rpc")
    assert printed.splitlines()[0] == "system/org.llama.rpc = {"
    assert (print_field(printed, "state"), print_field(printed, "runs")) == (
        "running",
        "1",
    )
    assert print_field(printed, "username") == "_llama"
    assert (
        "\targuments = {\n\t\t/opt/llama/bin/rpc-server\n\t\t--port\n\t\t50052\n\t}"
        in printed
    )


def test_second_bootstrap_fails_and_keeps_the_job(mac: Mac) -> None:
    plist = mac.write_plist("org.llama.rpc", RunAtLoad=True)
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    pid = print_field(mac.ok("launchctl", "print", "system/org.llama.rpc"), "pid")
    again = mac.run("launchctl", "bootstrap", "system", str(plist))
    assert (again.returncode, again.stderr) == (
        5,
        "Bootstrap failed: 5: Input/output error\n",
    )
    printed = mac.ok("launchctl", "print", "system/org.llama.rpc")
    assert (print_field(printed, "pid"), print_field(printed, "runs")) == (pid, "1")


def test_a_job_without_run_at_load_is_loaded_but_not_running(mac: Mac) -> None:
    mac.ok("launchctl", "bootstrap", "system", str(mac.write_plist("org.idle")))
    printed = mac.ok("launchctl", "print", "system/org.idle")
    assert (print_field(printed, "state"), print_field(printed, "runs")) == (
        "not running",
        "0",
    )
    assert "\tpid = " not in printed


def test_kickstart_k_restarts_with_a_new_pid(mac: Mac) -> None:
    mac.ok(
        "launchctl",
        "bootstrap",
        "system",
        str(mac.write_plist("org.llama.rpc", RunAtLoad=True)),
    )
    first = print_field(mac.ok("launchctl", "print", "system/org.llama.rpc"), "pid")
    mac.ok("launchctl", "kickstart", "system/org.llama.rpc")
    assert (
        print_field(mac.ok("launchctl", "print", "system/org.llama.rpc"), "pid")
        == first
    )
    new_pid = mac.ok(
        "launchctl", "kickstart", "-k", "-p", "system/org.llama.rpc"
    ).strip()
    printed = mac.ok("launchctl", "print", "system/org.llama.rpc")
    assert new_pid != first
    assert (print_field(printed, "pid"), print_field(printed, "runs")) == (new_pid, "2")


def test_print_and_kickstart_of_an_unloaded_label_exit_113(mac: Mac) -> None:
    for args in (("print", "system/org.none"), ("kickstart", "-k", "system/org.none")):
        result = mac.run("launchctl", *args)
        assert (result.returncode, result.stderr) == (
            113,
            'Could not find service "org.none" in domain for system\n',
        )


def test_bootout_unloads_once(mac: Mac) -> None:
    mac.edit_state("launchd", bootout_linger_s=0)
    mac.ok("launchctl", "bootstrap", "system", str(mac.write_plist("org.llama.rpc")))
    mac.ok("launchctl", "bootout", "system/org.llama.rpc")
    assert mac.run("launchctl", "print", "system/org.llama.rpc").returncode == 113
    again = mac.run("launchctl", "bootout", "system/org.llama.rpc")
    assert (again.returncode, again.stderr) == (
        3,
        "Boot-out failed: 3: No such process\n",
    )


def test_the_label_lingers_after_bootout(mac: Mac) -> None:
    """launchd lets go of a label seconds after bootout returns: a bootstrap meanwhile gets errno 5."""
    plist = mac.write_plist("org.llama.rpc", RunAtLoad=True)
    mac.edit_state("launchd", bootout_linger_s=1.5)
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    mac.ok("launchctl", "bootout", "system/org.llama.rpc")
    lingering = mac.ok("launchctl", "print", "system/org.llama.rpc")
    assert print_field(lingering, "state") == "not running"
    assert "\tpid = " not in lingering
    early = mac.run("launchctl", "bootstrap", "system", str(plist))
    assert (early.returncode, early.stderr) == (5, "Bootstrap failed: 5: Input/output error\n")
    assert mac.run("launchctl", "kickstart", "-k", "system/org.llama.rpc").returncode == 113
    assert mac.run("launchctl", "bootout", "system/org.llama.rpc").returncode == 3
    time.sleep(1.6)
    assert mac.run("launchctl", "print", "system/org.llama.rpc").returncode == 113
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    assert print_field(mac.ok("launchctl", "print", "system/org.llama.rpc"), "state") == "running"


@pytest.mark.skipif(
    not IS_ROOT, reason="the ownership check applies to the system domain (root)"
)
def test_bootstrap_refuses_a_group_writable_plist(mac: Mac) -> None:
    result = mac.run(
        "launchctl", "bootstrap", "system", str(mac.write_plist("org.w", mode=0o664))
    )
    assert (result.returncode, result.stderr) == (5, "Bootstrap failed: 5: Input/output error\n")
    assert mac.state()["launchd"]["services"] == {}


def test_bootstrap_of_a_missing_file_exits_2(mac: Mac) -> None:
    result = mac.run("launchctl", "bootstrap", "system", str(mac.root / "absent.plist"))
    assert (result.returncode, result.stderr) == (
        2,
        "Bootstrap failed: 2: No such file or directory\n",
    )


def test_disable_blocks_bootstrap_until_enabled(mac: Mac) -> None:
    plist = mac.write_plist("org.llama.rpc")
    mac.ok("launchctl", "disable", "system/org.llama.rpc")
    assert mac.run("launchctl", "bootstrap", "system", str(plist)).returncode == 119
    assert '"org.llama.rpc" => disabled' in mac.ok(
        "launchctl", "print-disabled", "system"
    )
    mac.ok("launchctl", "enable", "system/org.llama.rpc")
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    assert "org.llama.rpc" in mac.ok("launchctl", "print", "system/org.llama.rpc")


def test_legacy_list_uses_the_tab_format(mac: Mac) -> None:
    mac.ok("launchctl", "load", str(mac.write_plist("org.llama.rpc", RunAtLoad=True)))
    pid = mac.state()["launchd"]["services"][
        f"{'system' if IS_ROOT else f'gui/{os.geteuid()}'}/org.llama.rpc"
    ]["pid"]
    assert mac.ok("launchctl", "list").splitlines() == [
        "PID\tStatus\tLabel",
        f"{pid}\t0\torg.llama.rpc",
    ]
    mac.ok("launchctl", "stop", "org.llama.rpc")
    assert mac.ok("launchctl", "list").splitlines()[1] == "-\t-15\torg.llama.rpc"


def test_concurrent_bootstraps_are_all_recorded(mac: Mac) -> None:
    plists = [mac.write_plist(f"org.job{i}", RunAtLoad=True) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(
            pool.map(
                lambda p: (
                    mac.run("launchctl", "bootstrap", "system", str(p)).returncode
                ),
                plists,
            )
        )
    services = mac.state()["launchd"]["services"].values()
    assert codes == [0] * 12
    assert sorted(job["pid"] for job in services) == list(range(501, 513))


# ------------------------------------------------------------------------ brew


def test_brew_install_is_listed_and_reported_by_info(mac: Mac) -> None:
    mac.ok("brew", "install", "cmake")
    assert mac.ok("brew", "list", "--versions") == "cmake 3.31.5\n"
    info = json.loads(mac.ok("brew", "info", "--json=v2", "cmake", "iperf3"))
    assert [(f["name"], bool(f["installed"])) for f in info["formulae"]] == [
        ("cmake", True),
        ("iperf3", False),
    ]


def test_brew_unknown_formula_fails(mac: Mac) -> None:
    result = mac.run("brew", "info", "--json=v2", "llamacpp-nonexistent")
    assert (result.returncode, result.stderr) == (
        1,
        'Error: No available formula with the name "llamacpp-nonexistent".\n',
    )


def test_brew_install_needs_the_clt(mac: Mac) -> None:
    mac.edit_state("xcode", clt_installed=False)
    assert mac.run("brew", "install", "iperf3").returncode == 1
    assert mac.state()["brew"]["installed"] == {}


@pytest.mark.skipif(not IS_ROOT, reason="the root refusal only applies to root")
def test_brew_refuses_root_unless_root_owns_homebrew(mac: Mac) -> None:
    mac.edit_state("brew", owner_uid=501)
    result = mac.run("brew", "list")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: Running Homebrew as root is extremely dangerous"
    )


# ----------------------------------------------------------------------- cmake


@pytest.fixture
def llama_src(tmp_path: Path) -> Path:
    source = tmp_path / "llama.cpp"
    source.mkdir()
    (source / "CMakeLists.txt").write_text("project(llama.cpp)\n")
    return source


def test_cmake_exists_only_after_brew_install(mac: Mac) -> None:
    assert mac.run("cmake", "--version").returncode == 127
    mac.ok("brew", "install", "cmake")
    assert mac.ok("cmake", "--version").splitlines()[0] == "cmake version 3.31.5"


def test_cmake_configure_records_flags(mac: Mac, llama_src: Path) -> None:
    build = mac.root / "build"
    mac.ok("brew", "install", "cmake")
    mac.ok(
        "cmake",
        "-S",
        str(llama_src),
        "-B",
        str(build),
        "-DGGML_METAL=ON",
        "-DGGML_RPC=ON",
        "-DCMAKE_BUILD_TYPE:STRING=Release",
    )
    cache = (build / "CMakeCache.txt").read_text().splitlines()
    assert {
        "GGML_METAL:BOOL=ON",
        "GGML_RPC:BOOL=ON",
        "CMAKE_BUILD_TYPE:STRING=Release",
    } <= set(cache)
    assert mac.state()["cmake"]["builds"][str(build)]["cache"]["GGML_METAL"] == [
        "BOOL",
        "ON",
    ]


def test_cmake_finds_openssl_only_from_homebrew(mac: Mac, llama_src: Path) -> None:
    """llama.cpp's LLAMA_OPENSSL (ON by default) needs Homebrew's openssl@3, named by OPENSSL_ROOT_DIR."""
    build = mac.root / "build"
    mac.ok("brew", "install", "cmake")
    root = "-DOPENSSL_ROOT_DIR=/opt/homebrew/opt/openssl@3;/usr/local/opt/openssl@3"
    missing = mac.run("cmake", "-S", str(llama_src), "-B", str(build), "-DLLAMA_OPENSSL=ON", root)
    assert missing.returncode == 0 and "OpenSSL not found, HTTPS support disabled" in missing.stderr
    mac.ok("brew", "install", "openssl@3")
    assert "-- OpenSSL found: 3.4.1" in mac.ok("cmake", "-S", str(llama_src), "-B", str(build), "-DLLAMA_OPENSSL=ON", root)
    assert "OpenSSL" not in mac.ok("cmake", "-S", str(llama_src), "-B", str(build), "-DLLAMA_OPENSSL=OFF")


def test_cmake_build_makes_versioned_targets(mac: Mac, llama_src: Path) -> None:
    build = mac.root / "build"
    mac.ok("brew", "install", "cmake")
    mac.ok("cmake", "-S", str(llama_src), "-B", str(build), "-DGGML_METAL=ON")
    mac.ok(
        "cmake",
        "--build",
        str(build),
        "--config",
        "Release",
        "-j",
        "8",
        "--target",
        "llama-server",
        "rpc-server",
    )
    version = subprocess.run(
        [str(build / "bin" / "rpc-server"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (
        version.stderr
        == "version: 1 (0c1e570)\nbuilt with Apple clang for arm64-apple-darwin\n"
    )
    assert mac.state()["cmake"]["builds"][str(build)]["targets"] == {
        "llama-server": 1,
        "rpc-server": 1,
    }


def test_cmake_build_without_configure_fails(mac: Mac) -> None:
    mac.ok("brew", "install", "cmake")
    result = mac.run(
        "cmake", "--build", str(mac.root / "nowhere"), "--target", "rpc-server"
    )
    assert (result.returncode, result.stderr) == (1, "Error: could not load cache\n")


def test_cmake_configure_without_clt_finds_no_compiler(
    mac: Mac, llama_src: Path
) -> None:
    mac.ok("brew", "install", "cmake")
    mac.edit_state("xcode", clt_installed=False)
    result = mac.run("cmake", "-S", str(llama_src), "-B", str(mac.root / "build"))
    assert result.returncode == 1
    assert "No CMAKE_CXX_COMPILER could be found." in result.stderr
    assert mac.state()["cmake"]["builds"] == {}


# ------------------------------------------------------- dscl and dseditgroup


def test_dscl_records_a_user_like_darwin_user_creates_it(mac: Mac) -> None:
    if not IS_ROOT:
        pytest.skip("dscl writes need root, like on the Mac")
    for args in (
        ("-create", "/Users/_llamasim"),
        ("-create", "/Users/_llamasim", "UniqueID", "451"),
        ("-create", "/Users/_llamasim", "RealName", "Llama Service"),
    ):
        mac.ok("dscl", ".", *args)
    assert (
        mac.ok("dscl", ".", "-read", "/Users/_llamasim", "UniqueID")
        == "UniqueID: 451\n"
    )
    assert (
        mac.ok("dscl", ".", "-read", "/Users/_llamasim", "RealName")
        == "RealName:\n Llama Service\n"
    )
    listed = dict(
        line.split()
        for line in mac.ok("dscl", ".", "-list", "/Users", "UniqueID").splitlines()
    )
    assert listed["_llamasim"] == "451"


def test_dscl_read_of_a_missing_user_exits_56(mac: Mac) -> None:
    result = mac.run("dscl", ".", "-read", "/Users/_nosuchsimuser", "UniqueID")
    assert (result.returncode, result.stderr) == (
        56,
        "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)\n",
    )


def test_dseditgroup_membership_is_searchable(mac: Mac) -> None:
    if not IS_ROOT:
        pytest.skip("dseditgroup writes need root, like on the Mac")
    mac.ok("dseditgroup", "-o", "create", "-i", "452", "_llamasim")
    mac.ok("dseditgroup", "-o", "edit", "-a", "simuser", "-t", "user", "_llamasim")
    found = mac.ok("dscl", ".", "-search", "/Groups", "GroupMembership", "simuser")
    # The parse DarwinUser._list_user_groups applies.
    groups = [
        line.split()[0]
        for line in found.splitlines()
        if not line.startswith((" ", ")"))
    ]
    assert groups == ["_llamasim"]
    assert (
        mac.ok("dscl", ".", "-read", "/Groups/_llamasim", "PrimaryGroupID")
        == "PrimaryGroupID: 452\n"
    )


# -------------------------------------------- the real modules, via ansible


def run_tasks(
    mac: Mac, tasks: list[dict[str, Any]], home: Path | None = None
) -> list[dict[str, Any]]:
    """Run tasks on localhost with ansible-playbook; one result dict per task."""
    if not ANSIBLE_PLAYBOOK.exists():
        pytest.skip("ansible-playbook is not installed next to this Python")
    playbook = mac.root / "play.yml"
    playbook.write_text(
        json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    env = dict(
        mac.env,
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LIBRARY=str(MACSIM_DIR / "library"),
        ANSIBLE_LOCAL_TEMP=str(mac.root / "ansible-local"),
        HOME=str(home or mac.root),
    )
    # Only the json callback on stdout: not the project's ansible.cfg (make
    # exports ANSIBLE_CONFIG), whose profile_tasks would print there too.
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        env=env,
        cwd=mac.root,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    return [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]


def test_community_homebrew_installs_then_is_idempotent(mac: Mac) -> None:
    task = {
        "community.general.homebrew": {
            "name": ["cmake", "iperf3"],
            "state": "present",
            "path": str(mac.bin),
        }
    }
    first, second = run_tasks(mac, [task, task])
    assert (first.get("failed", False), first["changed"], second["changed"]) == (
        False,
        True,
        False,
    )
    assert sorted(mac.state()["brew"]["installed"]) == ["cmake", "iperf3"]


def test_community_launchd_starts_once(mac: Mac) -> None:
    agents = mac.root / "Library" / "LaunchAgents"
    agents.mkdir(parents=True)
    plist = agents / "org.llama.sim.plist"
    plist.write_bytes(
        plistlib.dumps({"Label": "org.llama.sim", "ProgramArguments": ["/bin/true"]})
    )
    plist.chmod(0o644)
    task = {"community.general.launchd": {"name": "org.llama.sim", "state": "started"}}
    first, second = run_tasks(mac, [task, task])
    assert (first["changed"], first["status"]["current_state"]) == (True, "started")
    assert (second["changed"], second["status"]["current_pid"]) == (
        False,
        first["status"]["current_pid"],
    )


def test_macsim_facts_reads_as_darwin_with_simulated_interfaces(mac: Mac) -> None:
    mac.ok("networksetup", "-setMTU", "en0", "9000")
    mac.ok(
        "networksetup",
        "-setmanual",
        "Ethernet",
        "10.20.0.5",
        "255.255.255.0",
        "10.20.0.1",
    )
    args = {
        "state_path": str(mac.state_path),
        "simulator": str(SIMULATOR),
        "ifconfig_path": str(mac.bin / "ifconfig"),
    }
    (result,) = run_tasks(mac, [{"macsim_facts": args}])
    facts = result["ansible_facts"]
    assert (
        facts["system"],
        facts["os_family"],
        facts["distribution"],
        facts["architecture"],
    ) == ("Darwin", "Darwin", "MacOSX", "arm64")
    assert (facts["en0"]["mtu"], facts["en0"]["ipv4"][0]["address"]) == (
        "9000",
        "10.20.0.5",
    )
    assert (facts["default_ipv4"]["gateway"], facts["interfaces"]) == (
        "10.20.0.1",
        ["en0", "en1", "lo0"],
    )
    assert facts["memtotal_mb"] == 131072


# ------------------------------------------------------------------ install.sh


def test_install_is_idempotent(tmp_path: Path) -> None:
    env = dict(os.environ, MACSIM_ROOT=str(tmp_path))
    script = str(MACSIM_DIR / "install.sh")

    def snapshot() -> dict[str, str]:
        return {
            str(p.relative_to(tmp_path)): os.readlink(p)
            if p.is_symlink()
            else str(p.stat().st_mtime_ns)
            for p in sorted(tmp_path.rglob("*"))
        }

    subprocess.run(["sh", script], env=env, check=True)
    first = snapshot()
    subprocess.run(["sh", script], env=env, check=True)
    assert snapshot() == first
    assert first["opt/homebrew/bin/brew"] == "/usr/local/lib/macsim/macsim.py"
    assert first["usr/local/bin/networksetup"] == "/usr/local/lib/macsim/macsim.py"


def test_newsyslog_renames_the_log_a_running_job_still_writes_to(mac: Mac, tmp_path: Path) -> None:
    """A daemon keeps its descriptor: after the rename its lines go to the archive, after bzip2 nowhere."""
    log = tmp_path / "daemon.log"
    plist = mac.write_plist("org.d", RunAtLoad=True, KeepAlive=True, StandardErrorPath=str(log))
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    mac.ok("macsim-log", "org.d", "first line")
    assert log.read_text() == "first line\n"
    rules = tmp_path / "rules.conf"
    rules.write_text(f"{log}  root:wheel  640  7  10240  *  N\n")
    mac.ok("newsyslog", "-F", "-f", str(rules))
    mac.ok("macsim-log", "org.d", "after the rename")
    assert log.read_text() == ""
    assert (tmp_path / "daemon.log.0").read_text() == "first line\nafter the rename\n"
    rules.write_text(f"{log}  root:wheel  640  7  10240  *  JN\n")
    mac.ok("newsyslog", "-F", "-f", str(rules))
    mac.ok("macsim-log", "org.d", "lost")
    assert log.read_text() == ""
    assert sorted(p.name for p in tmp_path.glob("daemon.log.*")) == ["daemon.log.0.bz2"]


def test_newsyslog_rotates_by_size_only_past_the_limit(mac: Mac, tmp_path: Path) -> None:
    log = tmp_path / "small.log"
    log.write_text("x" * 2048)
    rules = tmp_path / "rules.conf"
    rules.write_text(f"{log}  640  3  1  *  N\n")
    mac.ok("newsyslog", "-f", str(rules))
    assert log.read_text() == "" and (tmp_path / "small.log.0").stat().st_size == 2048
    log.write_text("y" * 100)
    mac.ok("newsyslog", "-f", str(rules))
    assert log.read_text() == "y" * 100


def test_a_job_writes_after_copy_and_truncate_to_the_live_log(mac: Mac, tmp_path: Path) -> None:
    """The service_unit role's rotate-log keeps the inode, so the daemon's next line stays in the live log."""
    log = tmp_path / "daemon.log"
    plist = mac.write_plist("org.d", RunAtLoad=True, KeepAlive=True, StandardErrorPath=str(log))
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    mac.ok("macsim-log", "org.d", "before")
    rotate = MACSIM_DIR.parents[1] / "roles" / "service_unit" / "files" / "rotate-log"
    subprocess.run(["sh", str(rotate), str(log), "0", "3"], check=True, capture_output=True)
    mac.ok("macsim-log", "org.d", "after")
    assert log.read_text() == "after\n"
    assert (tmp_path / "daemon.log.0").read_text() == "before\n"


def test_ping_takes_macos_flags_and_prints_the_macos_summary() -> None:
    sys.path.insert(0, str(MACSIM_DIR))
    import macsim

    argv = macsim.ping_argv(["-n", "-q", "-c", "2", "-t", "2", "-D", "-s", "8972", "192.168.100.2"])
    assert argv[1:] == ["-M", "do", "-n", "-q", "-c", "2", "-w", "2", "-s", "8972", "192.168.100.2"]
    assert macsim.ping_argv(["-c", "1", "10.0.0.1"])[1:3] == ["-M", "dont"]
    linux = "2 packets transmitted, 2 received\nrtt min/avg/max/mdev = 0.031/0.040/0.049/0.009 ms\n"
    assert macsim.ping_output(linux).splitlines()[1] == "round-trip min/avg/max/stddev = 0.031/0.040/0.049/0.009 ms"


def test_brew_links_iperf3_into_its_own_bin_only(mac: Mac, tmp_path: Path) -> None:
    brew_bin = tmp_path / "homebrew-bin"
    brew_bin.mkdir()
    mac.env["MACSIM_BREW_BIN"] = str(brew_bin)
    mac.ok("brew", "install", "iperf3")
    wrapper = brew_bin / "iperf3"
    assert wrapper.read_text() == '#!/bin/sh\nexec /usr/local/lib/macsim/real/iperf3 "$@"\n'
    assert not (mac.bin / "iperf3").exists()
    mac.ok("brew", "uninstall", "iperf3")
    assert not wrapper.exists()


# ----------------------------------------------------------------- pfctl, boot


STOCK_PF_CONF = MACSIM_DIR / "install.sh"


@pytest.fixture
def pf_mac(tmp_path: Path) -> Mac:
    """A Mac with pfctl, Apple's stock pf files and a LaunchDaemons folder of its own."""
    mac = Mac(tmp_path)
    (mac.bin / "pfctl").symlink_to(SIMULATOR)
    subprocess.run(["sh", str(STOCK_PF_CONF)], env=dict(os.environ, MACSIM_ROOT=str(tmp_path / "root")), check=True)
    root = tmp_path / "root"
    conf = (root / "etc" / "pf.conf").read_text().replace('"/etc/pf.anchors/', f'"{root}/etc/pf.anchors/')
    (root / "etc" / "pf.conf").write_text(conf)
    (tmp_path / "LaunchDaemons").mkdir()
    mac.env.update(MACSIM_PF_CONF=str(root / "etc" / "pf.conf"),
                   MACSIM_LAUNCHDAEMONS=str(tmp_path / "LaunchDaemons"))
    (tmp_path / "fence").write_text(
        "pass in quick on lo0 proto tcp from any to any port 50052\n"
        "pass in quick proto tcp from { 192.168.100.1, 192.168.100.3 } to any port 50052\n"
        "block return in quick proto tcp from any to any port 50052\n")
    return mac


def pf_status(mac: Mac) -> str:
    return mac.ok("pfctl", "-s", "info").splitlines()[0]


@pytest.mark.skipif(not IS_ROOT, reason="pfctl needs root, as on macOS")
def test_pfctl_enable_reference_keeps_pf_on_until_the_last_token(pf_mac: Mac) -> None:
    assert pf_status(pf_mac).startswith("Status: Disabled ")
    first = pf_mac.run("pfctl", "-E")
    second = pf_mac.run("pfctl", "-E")
    tokens = [r.stderr.split("Token : ")[1].split()[0] for r in (first, second)]
    assert tokens[0] != tokens[1]
    assert pf_status(pf_mac).startswith("Status: Enabled for 0 days 00:00:0")
    pf_mac.ok("pfctl", "-X", tokens[0])
    assert pf_status(pf_mac).startswith("Status: Enabled ")
    pf_mac.ok("pfctl", "-X", tokens[1])
    assert pf_status(pf_mac).startswith("Status: Disabled ")
    refused = pf_mac.run("pfctl", "-X", tokens[1])
    assert (refused.returncode, refused.stderr.splitlines()[-1]) == (1, "pfctl: pf not enabled")


@pytest.mark.skipif(not IS_ROOT, reason="pfctl needs root, as on macOS")
def test_pfctl_d_drops_every_reference_and_e_refuses_a_running_pf(pf_mac: Mac) -> None:
    token = pf_mac.run("pfctl", "-E").stderr.split("Token : ")[1].split()[0]
    again = pf_mac.run("pfctl", "-e")
    assert (again.returncode, again.stderr.splitlines()[-1]) == (1, "pfctl: pf already enabled")
    pf_mac.ok("pfctl", "-d")
    assert pf_status(pf_mac).startswith("Status: Disabled ")
    assert pf_mac.run("pfctl", "-X", token).returncode == 1


@pytest.mark.skipif(not IS_ROOT, reason="pfctl needs root, as on macOS")
def test_pfctl_loads_the_stock_ruleset_and_a_com_apple_sub_anchor(pf_mac: Mac) -> None:
    conf = pf_mac.env["MACSIM_PF_CONF"]
    loaded = pf_mac.run("pfctl", "-f", conf)
    assert loaded.returncode == 0 and "Use of -f option" in loaded.stderr
    assert pf_mac.ok("pfctl", "-s", "rules") == (
        'scrub-anchor "com.apple/*" all fragment reassemble\nanchor "com.apple/*" all\n')
    anchor = "com.apple/org.ggml.test"
    pf_mac.ok("pfctl", "-a", anchor, "-f", str(pf_mac.root / "fence"))
    assert pf_mac.ok("pfctl", "-a", anchor, "-s", "rules").splitlines() == [
        "pass in quick on lo0 proto tcp from any to any port = 50052 flags S/SA keep state",
        "pass in quick inet proto tcp from 192.168.100.1 to any port = 50052 flags S/SA keep state",
        "pass in quick inet proto tcp from 192.168.100.3 to any port = 50052 flags S/SA keep state",
        "block return in quick proto tcp from any to any port = 50052",
    ]
    # A reload of the main ruleset leaves the nested anchor in place.
    pf_mac.ok("pfctl", "-f", conf)
    assert f" {anchor}\n" in pf_mac.ok("pfctl", "-v", "-s", "Anchors")
    pf_mac.ok("pfctl", "-a", anchor, "-F", "all")
    gone = pf_mac.run("pfctl", "-a", anchor, "-s", "rules")
    assert (gone.returncode, gone.stdout) == (1, "")


@pytest.mark.skipif(not IS_ROOT, reason="pfctl needs root, as on macOS")
def test_pfctl_refuses_syntax_it_does_not_know_and_loads_nothing(pf_mac: Mac) -> None:
    bad = pf_mac.root / "bad"
    bad.write_text("set skip on lo0\npass in all\n")
    result = pf_mac.run("pfctl", "-a", "com.apple/x", "-f", str(bad))
    assert result.returncode == 1
    assert "pfctl: Syntax error in config file: pf rules not loaded" in result.stderr
    assert pf_mac.run("pfctl", "-a", "com.apple/x", "-s", "rules").returncode == 1


@pytest.mark.may_skip
@pytest.mark.skipif(IS_ROOT, reason="run as root: the non-root refusal cannot be seen")
def test_pfctl_refuses_non_root(pf_mac: Mac) -> None:
    result = pf_mac.run("pfctl", "-s", "info")
    assert (result.returncode, result.stderr) == (1, "pfctl: /dev/pf: Permission denied\n")


@pytest.mark.skipif(not IS_ROOT, reason="the boot and pfctl need root")
def test_boot_leaves_pf_off_and_reruns_only_simulated_run_at_load_jobs(pf_mac: Mac) -> None:
    daemons = pf_mac.root / "LaunchDaemons"
    marker = pf_mac.root / "ran"
    jobs = {
        "org.test.fence": {"ProgramArguments": ["/sbin/pfctl", "-E", "-a", "com.apple/org.test.fence", "-f",
                                                str(pf_mac.root / "fence")], "RunAtLoad": True,
                           "StandardErrorPath": str(pf_mac.root / "fence.log")},
        "org.test.shell": {"ProgramArguments": ["/bin/sh", "-c", f"touch {marker}"], "RunAtLoad": True},
        "org.test.off": {"ProgramArguments": ["/sbin/pfctl", "-E"], "RunAtLoad": True},
    }
    for label, keys in jobs.items():
        path = daemons / f"{label}.plist"
        path.write_bytes(plistlib.dumps({"Label": label, **keys}))
        path.chmod(0o644)
    pf_mac.ok("launchctl", "disable", "system/org.test.off")
    pf_mac.ok("pfctl", "-E")
    pf_mac.ok("pfctl", "-a", "com.apple/leftover", "-f", str(pf_mac.root / "fence"))
    pf_mac.ok("launchctl", "bootstrap", "system", str(daemons / "org.test.shell.plist"))
    result = subprocess.run([sys.executable, str(SIMULATOR), "boot"], env=pf_mac.env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    boot = result.stdout
    assert "boot: org.test.off.plist not loaded: Bootstrap failed: 119: Service is disabled" in boot
    assert not marker.exists()                                   # only simulated commands run at boot
    state = pf_mac.state()
    assert sorted(k for k in state["launchd"]["services"]) == ["system/org.test.fence", "system/org.test.shell"]
    assert state["launchd"]["services"]["system/org.test.fence"]["state"] == "not running"
    assert pf_status(pf_mac).startswith("Status: Enabled ")      # the fence job's -E
    assert state["pf"]["refcount"] == 1
    anchors = pf_mac.ok("pfctl", "-v", "-s", "Anchors")
    assert " com.apple/org.test.fence\n" in anchors and "leftover" not in anchors
    assert pf_mac.ok("pfctl", "-s", "rules").endswith('anchor "com.apple/*" all\n')   # com.apple.pfctl ran
    assert "Token : " in (pf_mac.root / "fence.log").read_text()


@pytest.mark.skipif(not IS_ROOT, reason="the boot needs root")
def test_boot_without_daemons_leaves_pf_disabled(pf_mac: Mac) -> None:
    pf_mac.ok("pfctl", "-E")
    result = subprocess.run([sys.executable, str(SIMULATOR), "boot"], env=pf_mac.env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert pf_status(pf_mac).startswith("Status: Disabled ")
    assert pf_mac.state()["pf"]["tokens"] == []


def test_the_compiler_refuses_to_run_before_the_xcode_licence_is_accepted(mac: Mac) -> None:
    (mac.bin / "clang").symlink_to(SIMULATOR)
    (mac.bin / "xcodebuild").symlink_to(SIMULATOR)
    assert mac.ok("clang", "--version").startswith("Apple clang version")
    mac.edit_state("xcode", license_accepted=False)
    assert mac.run("xcode-select", "-p").returncode == 0
    refused = mac.run("clang", "--version")
    assert refused.returncode == 69 and "sudo xcodebuild -license" in refused.stderr
    mac.ok("xcodebuild", "-license", "accept")
    assert mac.run("clang", "--version").returncode == 0


@pytest.mark.skipif(not IS_ROOT, reason="hands the log to another uid (chown)")
def test_a_job_cannot_create_its_log_where_its_user_may_not_write(mac: Mac, tmp_path: Path) -> None:
    """launchd opens the log as the job's user: a root-only folder gives the daemon no log at all."""
    folder = tmp_path / "var-log"
    folder.mkdir(mode=0o755)
    mac.ok("dscl", ".", "-create", "/Users/_svc")
    mac.ok("dscl", ".", "-create", "/Users/_svc", "UniqueID", "401")
    log = folder / "svc.log"
    plist = mac.write_plist("org.svc", RunAtLoad=True, KeepAlive=True, UserName="_svc", StandardErrorPath=str(log))
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    mac.ok("macsim-log", "org.svc", "lost")
    assert not log.exists()
    mac.ok("launchctl", "bootout", "system/org.svc")
    time.sleep(3.1)
    log.touch()
    os.chown(log, 401, 0)
    mac.ok("launchctl", "bootstrap", "system", str(plist))
    mac.ok("macsim-log", "org.svc", "kept")
    assert log.read_text() == "kept\n"
