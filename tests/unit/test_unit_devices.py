"""The rendered unit lets CUDA open every node it needs, under both NVIDIA namings of /proc/devices.

A cuda unit runs with DevicePolicy=closed and DeviceAllow= lines. systemd
resolves a "char-<group>" entry against /proc/devices when it builds the
unit's device rules: src/core/bpf-devices.c, bpf_devices_allow_list_major()
(systemd main; the same loop since 2014 as whitelist_major() in cgroup.c).
It reads the "Character devices:" section up to the blank line, takes each
line's major and name, and allows the whole major (all minors) of every name
that fnmatch(group, name, 0) matches; cgroup.c, cgroup_apply_devices(), skips
a group that matches nothing. A "/dev/..." path is stat()ed and allows that
one node. ``allowed()`` below does the same, with Python's fnmatchcase
standing in for fnmatch(3) with no flags ('*' and '?' match any character,
'/' included).

The fixtures under tests/unit/data are constructed, not captured:
proc-devices-nvidia-580.txt has the names a driver since 550.40 registers
("nvidia", "nvidiactl", "nvidia-modeset" on 195; NVIDIA/nvidia-container-toolkit
#324 quotes the release note, and listings in public issues show the dynamic
majors of nvidia-uvm, nvidia-caps and nvidia-caps-imex-channels);
proc-devices-nvidia-535.txt has the earlier "nvidia-frontend" naming.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

pytest.importorskip("ansible")
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from unit_text import directives, trust  # noqa: E402

init_plugin_loader()

# What the cuda unit had before: no rule matches major 195 on a 580 driver
# but the one /dev/nvidiactl path.
OLD_CUDA_RULES = ["/dev/nvidiactl rw", "char-nvidia-frontend rw", "char-nvidia-uvm rw", "char-nvidia-caps rw"]


def render_unit(backend: str) -> str:
    """service.unit.j2 with service_unit's defaults and vars, for a worker on ``backend``."""
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for path in ("defaults/main.yml", "vars/main.yml"):
        variables.update(trust(loader.load_from_file(str(ROOT / "roles" / "service_unit" / path))))
    variables.update(
        ansible_managed="Ansible managed",
        service_unit_name="llama-rpc-server",
        service_unit_user="llama-rpc",
        service_unit_argv=["/opt/llama.cpp/current/bin/ggml-rpc-server", "--host", "192.168.100.2", "--device", "CUDA0"],
        service_unit_wait_for_address="192.168.100.2",
        service_unit_backend=backend,
    )
    templar = Templar(loader=loader, variables=variables)
    text = (ROOT / "roles" / "service_unit" / "templates" / "service.unit.j2").read_text(encoding="utf-8")
    return str(templar.template(trust_as_template(text)))


def char_groups(proc_devices: str) -> list[tuple[int, str]]:
    """(major, name) of each line of the "Character devices:" section, as systemd reads it."""
    groups, good = [], False
    for line in proc_devices.splitlines():
        if line == "Character devices:":
            good = True
            continue
        if not line.strip():
            good = False
            continue
        if not good:
            continue
        fields = line.strip().split(None, 1)
        if len(fields) == 2 and fields[0].isdigit() and int(fields[0]) > 0:
            groups.append((int(fields[0]), fields[1].strip()))
    return groups


def nodes(proc_devices: str) -> dict[str, tuple[int, int]]:
    """The nodes CUDA opens on a one-GPU machine, with the majors this /proc/devices gives them."""
    major = {name: number for number, name in char_groups(proc_devices)}
    return {
        "/dev/nvidia0": (195, 0),
        "/dev/nvidiactl": (195, 255),
        "/dev/nvidia-modeset": (195, 254),
        "/dev/nvidia-uvm": (major["nvidia-uvm"], 0),
        "/dev/nvidia-uvm-tools": (major["nvidia-uvm"], 1),
        "/dev/nvidia-caps/nvidia-cap1": (major["nvidia-caps"], 1),
        "/dev/nvidia-caps/nvidia-cap2": (major["nvidia-caps"], 2),
    }


def allowed(rules: list[str], proc_devices: str, node: str, access: str = "rw") -> bool:
    """Whether DevicePolicy=closed with these DeviceAllow= values lets ``access`` through to ``node``."""
    table = nodes(proc_devices)
    want = table[node]
    for rule in rules:
        spec, _, perms = rule.partition(" ")
        if not set(access) <= set(perms or "rwm"):
            continue
        if spec.startswith("/dev/"):
            if table.get(spec) == want:
                return True
        elif spec.startswith("char-"):
            pattern = spec[len("char-"):]
            if any(fnmatch.fnmatchcase(name, pattern) and number == want[0] for number, name in char_groups(proc_devices)):
                return True
    return False


DRIVERS = {
    "580 (names since 550.40)": (DATA / "proc-devices-nvidia-580.txt").read_text(encoding="utf-8"),
    "535 (nvidia-frontend)": (DATA / "proc-devices-nvidia-535.txt").read_text(encoding="utf-8"),
}
CUDA_NODES = ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
              "/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2", "/dev/nvidia-modeset"]


@pytest.fixture(scope="module")
def cuda_unit() -> dict[str, list[str]]:
    return directives(render_unit("cuda"))


@pytest.mark.parametrize("driver", sorted(DRIVERS))
@pytest.mark.parametrize("node", CUDA_NODES)
def test_the_cuda_unit_lets_cuda_open_its_nodes(cuda_unit: dict[str, list[str]], driver: str, node: str) -> None:
    assert cuda_unit["DevicePolicy"] == ["closed"]
    assert allowed(cuda_unit["DeviceAllow"], DRIVERS[driver], node), (node, cuda_unit["DeviceAllow"])


@pytest.mark.parametrize("node", ["/dev/nvidia0", "/dev/nvidia-uvm"])
def test_the_emulation_denies_what_the_old_list_denied_on_a_580_driver(node: str) -> None:
    """The old list let through only /dev/nvidiactl of major 195, and so no GPU, on a 580 driver."""
    proc = DRIVERS["580 (names since 550.40)"]
    assert not allowed(OLD_CUDA_RULES, proc, "/dev/nvidia0")
    assert allowed(OLD_CUDA_RULES, proc, "/dev/nvidiactl")
    # The same list passed on the driver it was written for: the test tells the two apart.
    assert allowed(OLD_CUDA_RULES, DRIVERS["535 (nvidia-frontend)"], node)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_the_cuda_unit_lets_in_no_other_nvidia_group(cuda_unit: dict[str, list[str]], driver: str) -> None:
    """nvswitch, nvlink and the IMEX channels stay out: named groups, not a glob."""
    let_in = {
        name
        for rule in cuda_unit["DeviceAllow"]
        for number, name in char_groups(DRIVERS[driver])
        if rule.startswith("char-") and fnmatch.fnmatchcase(name, rule.split()[0][len("char-"):])
    }
    assert let_in <= {"nvidia", "nvidiactl", "nvidia-frontend", "nvidia-uvm", "nvidia-caps"}
    assert "nvidia-uvm" in let_in


def test_the_cuda_unit_loads_nvidia_uvm_before_its_device_rules_are_built(cuda_unit: dict[str, list[str]]) -> None:
    assert "modprobe@nvidia_uvm.service" in cuda_unit["Wants"]
    assert "modprobe@nvidia_uvm.service" in cuda_unit["After"]


def test_the_cuda_unit_makes_missing_nodes_with_privileges_and_tolerates_no_nvidia_modprobe(
    cuda_unit: dict[str, list[str]],
) -> None:
    prestart = [line for line in cuda_unit["ExecStartPre"] if "nvidia-modprobe" in line]
    assert prestart == ['-+/usr/bin/nvidia-modprobe "-c" "0" "-c" "255"', '-+/usr/bin/nvidia-modprobe "-u" "-c" "0"']
    # The service itself keeps its sandbox: no capabilities, so no mknod of its own.
    assert cuda_unit["CapabilityBoundingSet"] == [""]
    assert cuda_unit["NoNewPrivileges"] == ["yes"]


@pytest.mark.parametrize("backend", ["cpu", "metal"])
def test_a_backend_without_a_gpu_gets_no_devices_and_no_nvidia_steps(backend: str) -> None:
    unit = directives(render_unit(backend))
    assert unit["PrivateDevices"] == ["yes"]
    assert "DeviceAllow" not in unit
    assert not any("nvidia" in value for values in unit.values() for value in values)
