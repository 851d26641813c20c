"""plugins/module_utils/device_memory.py parsers and the device_memory module."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import device_memory
import pytest
from module_runner import load_module
from module_runner import run_module as run

MIB = 1 << 20
MEMINFO = """\
MemTotal:       24683520 kB
MemFree:        20741000 kB
MemAvailable:   23257088 kB
Buffers:          120000 kB
"""


def test_meminfo() -> None:
    device = device_memory.cpu_device(MEMINFO)
    assert device == {"name": "CPU", "free_bytes": 23257088 * 1024, "total_bytes": 24683520 * 1024,
                      "source": "/proc/meminfo"}


def test_meminfo_without_available_is_an_error() -> None:
    with pytest.raises(ValueError, match="no MemAvailable"):
        device_memory.parse_meminfo("MemTotal: 1 kB\n")


def test_cgroup_v2_limit_caps_the_host() -> None:
    device = device_memory.cpu_device(MEMINFO, "8589934592\n", "2147483648\n")
    assert (device["total_bytes"], device["free_bytes"]) == (8 << 30, 6 << 30)
    assert device["source"] == "/proc/meminfo capped by the cgroup memory limit"


def test_cgroup_without_limit_changes_nothing() -> None:
    assert device_memory.cpu_device(MEMINFO, "max\n", "123\n") == device_memory.cpu_device(MEMINFO)
    # cgroup v1 writes "no limit" as 9223372036854771712.
    assert device_memory.cpu_device(MEMINFO, "9223372036854771712\n", "5\n") == device_memory.cpu_device(MEMINFO)
    # A limit above MemTotal is no cap either.
    assert device_memory.cpu_device(MEMINFO, str(64 << 30), "5") == device_memory.cpu_device(MEMINFO)


def test_cgroup_free_is_the_smaller_of_both() -> None:
    # Limit 20 GiB, 1 GiB used: 19 GiB left, less than MemAvailable (22.2 GiB).
    assert device_memory.cpu_device(MEMINFO, str(20 << 30), str(1 << 30))["free_bytes"] == 19 << 30
    # Limit 23 GiB, nothing used: MemAvailable is the smaller.
    assert device_memory.cpu_device(MEMINFO, str(23 << 30), "0")["free_bytes"] == 23257088 * 1024


def test_nvidia_smi() -> None:
    text = "0, NVIDIA H100 80GB HBM3, 80000, 81559\n1, NVIDIA A10, 20000, 23028\n"
    devices = device_memory.parse_nvidia_smi(text)
    assert [(d["name"], d["free_bytes"], d["total_bytes"]) for d in devices] == [
        ("CUDA0", 80000 * MIB, 81559 * MIB),
        ("CUDA1", 20000 * MIB, 23028 * MIB),
    ]
    assert devices[0]["source"] == "nvidia-smi (NVIDIA H100 80GB HBM3)"


def test_nvidia_smi_unified_memory_falls_back_to_meminfo() -> None:
    (device,) = device_memory.parse_nvidia_smi("0, NVIDIA GB10, [N/A], [N/A]\n", MEMINFO)
    assert (device["name"], device["free_bytes"], device["total_bytes"]) == (
        "CUDA0", 23257088 * 1024, 24683520 * 1024)
    assert "unified memory" in device["source"]
    with pytest.raises(ValueError, match="reports no memory for GPU 0"):
        device_memory.parse_nvidia_smi("0, NVIDIA GB10, [N/A], [N/A]\n")


def test_nvidia_smi_garbage_is_an_error() -> None:
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        device_memory.parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate with the driver\n")
    with pytest.raises(ValueError, match="listed no GPU"):
        device_memory.parse_nvidia_smi("\n")


def test_metal_wired_limit_wins() -> None:
    device = device_memory.metal_device("98304\n", str(128 << 30))
    assert (device["free_bytes"], device["total_bytes"], device["source"]) == (
        96 << 30, 96 << 30, "sysctl iogpu.wired_limit_mb")


@pytest.mark.parametrize(
    ("ram_gib", "expected_mib"),
    [(16, 10922), (32, 21845), (36, 24576), (64, 49152), (96, 73728), (192, 147456)],
)
def test_metal_default_fraction(ram_gib: int, expected_mib: int) -> None:
    # 16 and 32 GiB give 2/3 and 96 GiB gives 3/4, as llama.cpp users logged them.
    device = device_memory.metal_device("0\n", f"{ram_gib << 30}\n")
    assert device["total_bytes"] // MIB == expected_mib
    assert device["free_bytes"] == device["total_bytes"]


def test_darwin_cpu() -> None:
    assert device_memory.darwin_cpu_device("137438953472\n")["total_bytes"] == 128 << 30


@pytest.fixture(scope="module")
def module() -> ModuleType:
    pytest.importorskip("ansible")
    return load_module("device_memory", device_memory)


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_module_cuda_with_a_fake_nvidia_smi(module: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, NVIDIA GB10, [N/A], [N/A]'\n", encoding="ascii")
    smi.chmod(0o755)
    result = run(module, {"backend": "auto", "nvidia_smi": str(smi), "_ansible_check_mode": True}, capsys)
    assert result["changed"] is False and result["backend"] == "cuda"
    assert [d["name"] for d in result["devices"]] == ["CUDA0", "CPU"]
    assert 0 < result["devices"][0]["free_bytes"] <= result["devices"][0]["total_bytes"]


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_module_cpu_and_failure(module: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    result = run(module, {"backend": "auto", "nvidia_smi": str(tmp_path / "absent")}, capsys)
    assert result["backend"] == "cpu" and [d["name"] for d in result["devices"]] == ["CPU"]
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'no devices were found' >&2\nexit 6\n", encoding="ascii")
    smi.chmod(0o755)
    failed = run(module, {"backend": "cuda", "nvidia_smi": str(smi)}, capsys)
    assert failed["failed"] is True
    assert failed["msg"].startswith("device_memory (cuda): ") and "rc=6" in failed["msg"]
    assert "no devices were found" in failed["msg"]
