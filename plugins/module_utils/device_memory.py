"""Parse what a host says about its memory into llama.cpp-style devices.

Each parser takes the text a command or file gave and returns devices
``{name, free_bytes, total_bytes, source}``; the device_memory module runs
the commands. Standard library only, so unit tests need no Ansible.

- Linux CPU: ``/proc/meminfo`` MemAvailable/MemTotal, capped by the cgroup
  memory limit where that is smaller (v2 ``memory.max``/``memory.current``,
  v1 ``memory.limit_in_bytes``/``memory.usage_in_bytes``).
- CUDA: ``nvidia-smi --query-gpu=index,name,memory.free,memory.total
  --format=csv,noheader,nounits`` (MiB). A GPU that shares system memory
  (DGX Spark's GB10) reports ``[N/A]``; llama.cpp then takes free memory
  from /proc/meminfo MemAvailable (ggml/src/ggml-cuda/ggml-cuda.cu,
  ggml_backend_cuda_device_get_memory, at 0c1e570), and so does this.
- macOS Metal: see metal_device.
"""

from __future__ import annotations

import re
from typing import Any

MIB = 1024 * 1024
NVIDIA_SMI_QUERY = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.free,memory.total",
    "--format=csv,noheader,nounits",
]
CGROUP_V2 = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")
CGROUP_V1 = (
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    "/sys/fs/cgroup/memory/memory.usage_in_bytes",
)
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit value.
_CGROUP_UNLIMITED = 1 << 60
# Apple's default GPU working set (recommendedMaxWorkingSetSize) on Apple
# silicon, as reported in llama.cpp's own logs: 2/3 of RAM up to 36 GiB
# (16 GiB -> 10922.67 MB, 32 GiB -> 21845.34 MB) and 3/4 above it
# (96 GiB -> 73728 MB); see metal_device for the sources.
METAL_SMALL_FRACTION = (2, 3)
METAL_LARGE_FRACTION = (3, 4)
METAL_SMALL_LIMIT = 36 * 1024 * MIB

_MEMINFO_LINE = re.compile(r"^(\w+):\s+(\d+)(?:\s+kB)?\s*$")


def _device(name: str, free: int, total: int, source: str) -> dict[str, Any]:
    return {"name": name, "free_bytes": int(free), "total_bytes": int(total), "source": source}


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` -> ``{'MemTotal': bytes, 'MemAvailable': bytes, ...}``."""
    values = {}
    for line in text.splitlines():
        match = _MEMINFO_LINE.match(line.strip())
        if match:
            values[match.group(1)] = int(match.group(2)) * (1024 if "kB" in line else 1)
    for key in ("MemTotal", "MemAvailable"):
        if key not in values:
            raise ValueError(f"/proc/meminfo has no {key} line")
    return values


def parse_cgroup_bytes(text: str) -> int | None:
    """A cgroup memory file -> bytes; None for ``max`` or v1's "unlimited"."""
    value = text.strip()
    if value == "max":
        return None
    if not value.isdigit():
        raise ValueError(f"unexpected cgroup memory value {value!r}")
    number = int(value)
    return None if number >= _CGROUP_UNLIMITED else number


def cpu_device(meminfo: str, cgroup_limit: str | None = None, cgroup_usage: str | None = None) -> dict[str, Any]:
    """The host CPU device: MemAvailable/MemTotal, capped by a smaller cgroup limit.

    Under a limit, total is the limit and free is the limit less the
    cgroup's usage (never more than MemAvailable).
    """
    info = parse_meminfo(meminfo)
    free, total, source = info["MemAvailable"], info["MemTotal"], "/proc/meminfo"
    limit = parse_cgroup_bytes(cgroup_limit) if cgroup_limit is not None else None
    if limit is not None and limit < total:
        usage = parse_cgroup_bytes(cgroup_usage) if cgroup_usage is not None else 0
        free = min(free, max(limit - (usage or 0), 0))
        total = limit
        source = "/proc/meminfo capped by the cgroup memory limit"
    return _device("CPU", free, total, source)


def _smi_mib(field: str) -> int | None:
    field = field.strip()
    return int(float(field)) * MIB if re.fullmatch(r"\d+(\.\d+)?", field) else None


def parse_nvidia_smi(text: str, meminfo: str | None = None) -> list[dict[str, Any]]:
    """``nvidia-smi --query-gpu=index,name,memory.free,memory.total`` CSV -> CUDA devices.

    Devices are named ``CUDA<index>``. nvidia-smi orders GPUs by PCI bus
    while CUDA (and so llama.cpp) orders them fastest first unless
    CUDA_DEVICE_ORDER=PCI_BUS_ID, so on a mixed multi-GPU host the numbers
    may not match. Memory that nvidia-smi reports as not available (a GPU
    on system memory) comes from ``meminfo`` instead, as ggml-cuda does.
    """
    devices = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 4 or not fields[0].isdigit():
            raise ValueError(f"unexpected nvidia-smi line: {line!r}")
        index, name = fields[0], ",".join(fields[1:-2])
        free, total = _smi_mib(fields[-2]), _smi_mib(fields[-1])
        source = f"nvidia-smi ({name})"
        if free is None or total is None:
            if meminfo is None:
                raise ValueError(f"nvidia-smi reports no memory for GPU {index} ({name}) and no /proc/meminfo was given")
            info = parse_meminfo(meminfo)
            free = info["MemAvailable"]
            total = total if total is not None else info["MemTotal"]
            source = f"nvidia-smi ({name}) reports no memory: unified memory, free from /proc/meminfo MemAvailable"
        devices.append(_device(f"CUDA{index}", free, total, source))
    if not devices:
        raise ValueError("nvidia-smi listed no GPU")
    return devices


def metal_device(wired_limit_mb: str, memsize: str) -> dict[str, Any]:
    """The Metal device of an Apple silicon Mac.

    llama.cpp reports Metal's total as the device's
    recommendedMaxWorkingSetSize and its free as that less what the process
    has allocated (ggml/src/ggml-metal/ggml-metal-device.m,
    ggml_metal_device_get_memory). That value cannot be read from a shell,
    so:

    - ``sysctl -n iogpu.wired_limit_mb`` when it is non-zero: macOS then
      sets the working set to it (an owner's override of the default);
    - otherwise ``sysctl -n hw.memsize`` times Apple's default fraction,
      2/3 up to 36 GiB of RAM and 3/4 above. Apple does not document this
      heuristic. The fraction is inferred from llama.cpp logs of
      ``recommendedMaxWorkingSetSize``: 10922.67 MB on 16 GB
      (llama-cpp-python#687), 21845.34 MB on 32 GB (llama.cpp#2011,
      ollama#434), 73728.00 MB on 96 GB (llama.cpp#3213). gpustack#1375
      says 75%. Newer macOS may grant more: a 128 GB Mac on macOS 26
      reported 107.52 GiB (84%; antirez/ds4#893), so this is a lower bound,
      not a measurement.

    Free is reported equal to total: nothing is allocated before
    llama-server starts.
    """
    limit = int(wired_limit_mb.strip() or 0)
    if limit > 0:
        total = limit * MIB
        return _device("Metal", total, total, "sysctl iogpu.wired_limit_mb")
    ram = int(memsize.strip())
    num, den = METAL_SMALL_FRACTION if ram <= METAL_SMALL_LIMIT else METAL_LARGE_FRACTION
    total = ram * num // den
    return _device("Metal", total, total, f"sysctl hw.memsize x {num}/{den} (macOS default working set)")


def darwin_cpu_device(memsize: str) -> dict[str, Any]:
    """The host CPU of a Mac: ``hw.memsize``, free taken as total.

    This is what llama.cpp's own CPU device reports outside Windows
    (ggml/src/ggml-cpu/ggml-cpu.cpp, ggml_backend_cpu_device_get_memory).
    """
    ram = int(memsize.strip())
    return _device("CPU", ram, ram, "sysctl hw.memsize (free taken as total, as ggml-cpu does)")
