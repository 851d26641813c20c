#!/usr/bin/python
# ruff: noqa: EXE001  (Ansible modules carry this shebang but stay non-executable)
"""Ansible module: measure the free and total memory of this host's llama.cpp devices."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: device_memory
short_description: Measure the memory of the devices llama.cpp would use on this host
description:
  - Reports each local device as llama.cpp names it (C(CUDA0), C(Metal), C(CPU)) with its free and
    total memory in bytes, and where the numbers came from.
  - Linux CPU memory is C(/proc/meminfo) MemAvailable/MemTotal, capped by the cgroup memory limit
    when that is smaller (cgroup v2 C(memory.max)/C(memory.current), else v1
    C(memory.limit_in_bytes)/C(memory.usage_in_bytes)).
  - CUDA memory comes from C(nvidia-smi). A GPU on system memory (DGX Spark) reports none, and its
    free memory is taken from C(/proc/meminfo) as llama.cpp does.
  - Metal memory is C(sysctl iogpu.wired_limit_mb) when it is set, else C(hw.memsize) times the
    macOS default working-set fraction (2/3 up to 36 GiB, 3/4 above), an estimate.
  - The module only reads, so check mode runs the same probe.
options:
  backend:
    description:
      - Which accelerator to measure. C(auto) picks C(metal) on macOS, C(cuda) where C(nvidia-smi) is
        found, and C(cpu) otherwise. The host C(CPU) entry is always reported as well.
    type: str
    choices: [auto, cpu, cuda, metal]
    default: auto
  nvidia_smi:
    description: Path or name of C(nvidia-smi); a name is searched in PATH and the usual CUDA directories.
    type: str
    default: nvidia-smi
author:
  - llama-lab
notes:
  - Supports check mode; nothing is changed.
  - Needs only the Python standard library on the host.
"""

EXAMPLES = r"""
- name: Measure the head's devices
  device_memory:
  register: __plan_head_memory

- name: Measure the CUDA devices only where nvidia-smi is expected
  device_memory:
    backend: cuda
    nvidia_smi: /usr/local/cuda/bin/nvidia-smi
"""

RETURN = r"""
backend:
  description: The backend that was measured.
  returned: success
  type: str
  sample: cpu
devices:
  description: The accelerator devices in llama.cpp's order, then the host C(CPU).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Device name as llama.cpp prints it (C(CUDA0), C(Metal), C(CPU)).
      type: str
      sample: CPU
    free_bytes:
      description: Free memory in bytes.
      type: int
      sample: 20250000000
    total_bytes:
      description: Total memory in bytes.
      type: int
      sample: 25276502016
    source:
      description: Where the numbers came from.
      type: str
      sample: /proc/meminfo
"""

import os
import platform
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.device_memory import (
    CGROUP_V1,
    CGROUP_V2,
    NVIDIA_SMI_QUERY,
    cpu_device,
    darwin_cpu_device,
    metal_device,
    parse_nvidia_smi,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "backend": {"type": "str", "choices": ["auto", "cpu", "cuda", "metal"], "default": "auto"},
    "nvidia_smi": {"type": "str", "default": "nvidia-smi"},
}
CUDA_BIN_DIRS = ["/usr/local/cuda/bin", "/usr/bin", "/usr/local/bin"]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except OSError:
        return None


def linux_cpu() -> dict[str, Any]:
    """The Linux host CPU, with the first cgroup version whose files exist."""
    meminfo = _read("/proc/meminfo")
    if meminfo is None:
        raise ValueError("cannot read /proc/meminfo")
    for limit_path, usage_path in (CGROUP_V2, CGROUP_V1):
        limit = _read(limit_path)
        if limit is not None:
            return cpu_device(meminfo, limit, _read(usage_path))
    return cpu_device(meminfo)


def _run(module: AnsibleModule, argv: list[str]) -> str:
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise ValueError("{} failed (rc={}): {}".format(" ".join(argv), rc, (err or out).strip()))
    return out


def measure(module: AnsibleModule, backend: str) -> list[dict[str, Any]]:
    """The devices of ``backend``, then the host CPU."""
    if backend == "metal":
        wired = _run(module, ["sysctl", "-n", "iogpu.wired_limit_mb"])
        memsize = _run(module, ["sysctl", "-n", "hw.memsize"])
        return [metal_device(wired, memsize), darwin_cpu_device(memsize)]
    if platform.system() == "Darwin":
        if backend == "cuda":
            raise ValueError("CUDA is not available on macOS")
        return [darwin_cpu_device(_run(module, ["sysctl", "-n", "hw.memsize"]))]
    host = linux_cpu()
    if backend == "cuda":
        smi = module.get_bin_path(module.params["nvidia_smi"], required=True, opt_dirs=CUDA_BIN_DIRS)
        out = _run(module, [smi, *NVIDIA_SMI_QUERY[1:]])
        return [*parse_nvidia_smi(out, _read("/proc/meminfo")), host]
    return [host]


def pick_backend(module: AnsibleModule) -> str:
    """``auto`` -> metal on macOS, cuda where nvidia-smi is found, else cpu."""
    backend = module.params["backend"]
    if backend != "auto":
        return backend
    if platform.system() == "Darwin":
        return "metal"
    name = module.params["nvidia_smi"]
    found = os.path.isfile(name) if os.path.isabs(name) else module.get_bin_path(name, opt_dirs=CUDA_BIN_DIRS)
    return "cuda" if found else "cpu"


def run_module() -> None:
    """Measure and exit with the devices."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    backend = pick_backend(module)
    try:
        devices = measure(module, backend)
    except ValueError as exc:
        module.fail_json(msg=f"device_memory ({backend}): {exc}", backend=backend, changed=False)
    module.exit_json(backend=backend, devices=devices, changed=False)


def main() -> None:
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
