"""Which kind of device each node computes on, read from llama.cpp's own logs.

At the pin (llama.cpp 0c1e570):

- ggml-rpc-server prints the devices it serves when it starts
  (ggml/src/ggml-rpc/ggml-rpc.cpp, ggml_backend_rpc_start_server()):
  ``Devices:`` then one ``  <name>: <description> (<total> MiB, <free> MiB free)``
  per device. The names are the backends' own: ``CUDA0`` (ggml-cuda.cu,
  GGML_CUDA_NAME + index; the description is the GPU's name), ``MTL0``
  (ggml-metal-device.m), ``Vulkan0``, ``CPU``. With no -d it serves every GPU
  and falls back to the CPU alone when none initialised
  (tools/rpc/rpc-server.cpp, get_devices()), so a CUDA build whose driver
  failed still serves, on its CPU. That is the case this module catches. The
  lines go to stdout, which under systemd is a pipe and so fully buffered: they
  reach the journal at the first accepted connection (``fflush`` after
  "Accepted client connection"), which a head that uses the worker has made.
- The CUDA backend logs on stderr, unbuffered, ``ggml_cuda_init: found N CUDA
  devices`` or ``ggml_cuda_init: failed to initialize CUDA: <reason>``.
- llama-server's load log names each buffer after its buffer type
  (src/llama-model.cpp, llama-kv-cache.cpp, llama-context.cpp): ``MTL0_Mapped
  model buffer size``, ``MTL0 KV buffer size``, ``CUDA0 compute buffer size``
  (ggml-metal.cpp names Metal's types MTL<i>, MTL<i>_Private, MTL<i>_Mapped).
  ``CPU_Mapped`` and ``CUDA_Host`` are host memory, not a device.

Standard library only, so unit tests need no Ansible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# A build's backend and the prefix of the ggml devices it brings.
BACKEND_DEVICE_PREFIX = {"cuda": "CUDA", "metal": "MTL", "vulkan": "Vulkan"}

_START_RE = re.compile(r"^Starting RPC server v(?P<version>[0-9.]+)\s*$", re.M)
_DEVICE_RE = re.compile(
    r"^\s+(?P<name>[A-Za-z][A-Za-z0-9_]*): (?P<description>.*) \((?P<total>\d+) MiB, (?P<free>\d+) MiB free\)\s*$"
)
_CUDA_RE = re.compile(r"ggml_cuda_init: (?P<what>found \d+ CUDA devices[^\n]*|failed to initialize CUDA: [^\n]*)")
_LOCAL_BUFFER_RE = re.compile(
    r"(?<![\w\]])(?P<buffer>[A-Za-z][A-Za-z0-9_]*)\s+(?P<kind>model|KV|compute|output)\s+buffer size\s*=\s*"
    r"(?P<mib>[0-9.]+)\s*MiB"
)
_DEVICE_BUFFER_RE = re.compile(r"^(?P<device>[A-Za-z]+\d+)(?:_Mapped|_Private)?$")


def rpc_server_devices(log: str) -> list[dict[str, Any]]:
    """The devices of the last RPC server start in ``log``: name, kind, description, total and free MiB.

    [] when the log holds no ``Devices:`` list (not started, or nothing flushed yet).
    """
    starts = list(_START_RE.finditer(log))
    if not starts:
        return []
    lines = log[starts[-1].end():].splitlines()
    devices: list[dict[str, Any]] = []
    listing = False
    for line in lines:
        if line.strip() == "Devices:":
            listing = True
            continue
        if not listing:
            continue
        match = _DEVICE_RE.match(line)
        if not match:
            break
        devices.append({
            "name": match.group("name"),
            "kind": device_kind(match.group("name")),
            "description": match.group("description"),
            "total_mib": int(match.group("total")),
            "free_mib": int(match.group("free")),
        })
    return devices


def device_kind(name: str) -> str:
    """``CUDA0`` -> ``cuda``, ``MTL0`` -> ``metal``, ``Vulkan1`` -> ``vulkan``, ``CPU`` -> ``cpu``; else lower-case."""
    for backend, prefix in BACKEND_DEVICE_PREFIX.items():
        if re.fullmatch(re.escape(prefix) + r"\d+", name):
            return backend
    return "cpu" if name == "CPU" else name.lower()


def cuda_init(log: str) -> str:
    """The last ``ggml_cuda_init`` verdict in ``log`` ("found 1 CUDA devices ..." or "failed ..."); '' when none."""
    found = _CUDA_RE.findall(log)
    return found[-1].strip() if found else ""


def local_buffers(log: str) -> list[dict[str, Any]]:
    """The load log's buffers on the head itself (RPC buffers left out): buffer, device ('' for host memory), kind, MiB."""
    found = []
    for match in _LOCAL_BUFFER_RE.finditer(log):
        buffer = match.group("buffer")
        if buffer.startswith("RPC"):
            continue
        device = _DEVICE_BUFFER_RE.match(buffer)
        found.append({
            "buffer": buffer,
            "device": device.group("device") if device else "",
            "kind": match.group("kind"),
            "mib": float(match.group("mib")),
        })
    return found


def _describe(devices: list[Mapping[str, Any]]) -> str:
    return ", ".join(f"{d['name']} ({d['description']}, {d['total_mib']} MiB)" for d in devices) or "no device"


def rpc_worker_devices(
    workers: Iterable[str],
    endpoints: Iterable[str],
    backends: Mapping[str, str],
    logs: Mapping[str, str],
    model_mib: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Per worker: what its build's backend promises against what its RPC server serves.

    ``backends`` maps each worker to its build's backend (a missing or ''
    backend is reported, not judged), ``logs`` to its RPC server's log of the
    current run, ``model_mib`` each endpoint to the head's model weights on it
    (``rpc_model_mib``). A worker built for cuda, metal or vulkan must serve at
    least one device of that kind and hold the head's weights; ``problem`` says
    what it found instead, '' when nothing is wrong, and ``message`` says it
    naming the worker and its endpoint.
    """
    report = []
    for worker, endpoint in zip(workers, endpoints):
        backend = str(backends.get(worker) or "")
        log = str(logs.get(worker) or "")
        devices = rpc_server_devices(log)
        cuda = cuda_init(log)
        expected = BACKEND_DEVICE_PREFIX.get(backend)
        weights = float(model_mib.get(endpoint, 0.0))
        problem = ""
        if expected:
            kinds = [d for d in devices if d["kind"] == backend]
            if not devices:
                problem = (f"is built for {backend}, but its RPC server's log of the current run lists no devices "
                           f"(no 'Devices:' after 'Starting RPC server')")
            elif not kinds:
                problem = f"is built for {backend}, but its RPC server serves no {expected} device: it serves {_describe(devices)}"
            elif weights <= 0:
                problem = (f"serves {_describe(kinds)}, but the head's load log names no model buffer on it "
                           f"(RPC[{endpoint}] model buffer)")
            if problem and cuda and backend == "cuda":
                problem += f"; its log says: ggml_cuda_init: {cuda}"
        report.append({
            "host": worker,
            "endpoint": endpoint,
            "backend": backend,
            "devices": devices,
            "cuda_init": cuda,
            "model_mib": weights,
            "problem": problem,
            "message": f"worker {worker} ({endpoint}) {problem}" if problem else "",
        })
    return report


def head_device_problem(backend: str, log: str) -> str:
    """'' when a head built for ``backend`` shows a buffer on a device of that kind in its load log, else what it shows."""
    prefix = BACKEND_DEVICE_PREFIX.get(str(backend or ""))
    if not prefix:
        return ""
    buffers = local_buffers(log)
    if any(device_kind(b["device"]) == backend for b in buffers if b["device"]):
        return ""
    shown = ", ".join(sorted({b["buffer"] for b in buffers})) or "none"
    return (f"is built for {backend}, but llama-server's load log of its current run shows no {prefix} buffer "
            f"(e.g. '{prefix}0_Mapped model buffer size' or '{prefix}0 compute buffer size'); its own buffers: {shown}")


class FilterModule:
    """Device-kind helpers."""

    def filters(self) -> dict:
        return {
            "rpc_server_devices": rpc_server_devices,
            "local_buffers": local_buffers,
            "rpc_worker_devices": rpc_worker_devices,
            "head_device_problem": head_device_problem,
        }
