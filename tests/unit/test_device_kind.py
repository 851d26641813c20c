"""Device kinds from llama.cpp's logs: a CUDA worker serves CUDA, a Metal head holds Metal buffers.

The rpc-server-start-*.log and llama-server-load-metal-head.log fixtures are
constructed from the pin's source (each says so in its first lines); the
gemma3-270m-load-*.log ones are real lab load logs (CPU head, CPU workers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_loader import load

devices = load("filter", "devices")
cluster = load("filter", "cluster")

DATA = Path(__file__).resolve().parent / "data"
CUDA_OK = (DATA / "rpc-server-start-cuda-gb10.log").read_text(encoding="utf-8")
CUDA_FAILED = (DATA / "rpc-server-start-cuda-failed.log").read_text(encoding="utf-8")
CPU = (DATA / "rpc-server-start-cpu.log").read_text(encoding="utf-8")
METAL_HEAD = (DATA / "llama-server-load-metal-head.log").read_text(encoding="utf-8")
LAB_HEAD = (DATA / "gemma3-270m-load-one-rpc-ngl99-c4096.log").read_text(encoding="utf-8")
ENDPOINT = "192.168.100.2:50052"


def test_the_devices_a_cuda_worker_serves() -> None:
    assert devices.rpc_server_devices(CUDA_OK) == [
        {"name": "CUDA0", "kind": "cuda", "description": "NVIDIA GB10", "total_mib": 122570, "free_mib": 117436},
    ]


def test_a_failed_cuda_build_serves_its_cpu_alone() -> None:
    assert [(d["name"], d["kind"]) for d in devices.rpc_server_devices(CUDA_FAILED)] == [("CPU", "cpu")]
    assert devices.cuda_init(CUDA_FAILED) == "failed to initialize CUDA: no CUDA-capable device is detected"
    assert devices.cuda_init(CUDA_OK).startswith("found 1 CUDA devices")
    assert devices.cuda_init(CPU) == ""


def test_only_the_last_start_counts() -> None:
    log = CUDA_OK + "\n" + CUDA_FAILED
    assert [d["name"] for d in devices.rpc_server_devices(log)] == ["CPU"]
    assert devices.rpc_server_devices("Starting RPC server v7.0.0\n  endpoint       : 1.2.3.4:1\n") == []
    assert devices.rpc_server_devices("") == []


@pytest.mark.parametrize(("name", "kind"), [("CUDA0", "cuda"), ("CUDA12", "cuda"), ("MTL0", "metal"),
                                            ("Vulkan1", "vulkan"), ("CPU", "cpu"), ("BLAS", "blas")])
def test_device_kind(name: str, kind: str) -> None:
    assert devices.device_kind(name) == kind


def _judge(log: str, backend: str, model_mib: float = 160.56) -> dict:
    (row,) = devices.rpc_worker_devices(["spark"], [ENDPOINT], {"spark": backend}, {"spark": log}, {ENDPOINT: model_mib})
    return row


def test_a_cuda_worker_that_serves_cuda_and_holds_weights_passes() -> None:
    row = _judge(CUDA_OK, "cuda")
    assert row["problem"] == ""
    assert row["devices"][0]["name"] == "CUDA0"
    assert row["model_mib"] == 160.56


def test_a_cuda_worker_serving_only_its_cpu_fails_saying_what_it_found() -> None:
    row = _judge(CUDA_FAILED, "cuda")
    assert row["problem"] == (
        "is built for cuda, but its RPC server serves no CUDA device: it serves CPU (CPU, 122570 MiB); "
        "its log says: ggml_cuda_init: failed to initialize CUDA: no CUDA-capable device is detected"
    )


def test_the_message_names_the_worker_and_its_endpoint() -> None:
    row = _judge(CUDA_FAILED, "cuda")
    assert row["message"] == f"worker spark ({ENDPOINT}) " + row["problem"]
    assert _judge(CUDA_OK, "cuda")["message"] == ""


def test_a_cuda_worker_without_the_heads_weights_fails() -> None:
    row = _judge(CUDA_OK, "cuda", model_mib=0.0)
    assert "names no model buffer on it (RPC[192.168.100.2:50052] model buffer)" in row["problem"]


def test_a_cuda_worker_whose_log_lists_no_devices_fails() -> None:
    row = _judge("ggml_cuda_init: found 1 CUDA devices (Total VRAM: 122570 MiB):\n", "cuda")
    assert row["problem"].startswith("is built for cuda, but its RPC server's log of the current run lists no devices")


@pytest.mark.parametrize("backend", ["cpu", ""])
def test_a_cpu_or_unknown_worker_is_reported_not_judged(backend: str) -> None:
    row = _judge(CPU, backend)
    assert row["problem"] == ""
    assert row["devices"][0]["description"] == "AMD EPYC 7B13"


def test_workers_keep_their_order_and_endpoints() -> None:
    rows = devices.rpc_worker_devices(
        ["a", "b"], ["10.0.0.2:1", "10.0.0.3:2"], {"a": "cuda", "b": "cpu"}, {"a": CUDA_FAILED, "b": CPU},
        {"10.0.0.2:1": 1.0, "10.0.0.3:2": 2.0},
    )
    assert [(r["host"], r["endpoint"], bool(r["problem"])) for r in rows] == [("a", "10.0.0.2:1", True), ("b", "10.0.0.3:2", False)]


def test_the_metal_heads_own_buffers() -> None:
    found = {(b["buffer"], b["device"], b["kind"]) for b in devices.local_buffers(METAL_HEAD)}
    assert found == {
        ("CPU_Mapped", "", "model"), ("MTL0_Mapped", "MTL0", "model"), ("CPU", "", "output"),
        ("MTL0", "MTL0", "KV"), ("MTL0", "MTL0", "compute"), ("CPU", "", "compute"),
    }
    # The RPC buffers stay cluster.rpc_buffers' business.
    assert {b["endpoint"] for b in cluster.rpc_buffers(METAL_HEAD)} == {ENDPOINT}


def test_a_metal_head_with_metal_buffers_passes() -> None:
    assert devices.head_device_problem("metal", METAL_HEAD) == ""


def test_a_metal_head_with_cpu_buffers_only_fails() -> None:
    problem = devices.head_device_problem("metal", LAB_HEAD)
    assert problem.startswith("is built for metal, but llama-server's load log of its current run shows no MTL buffer")
    assert problem.endswith("its own buffers: CPU, CPU_Mapped")


@pytest.mark.parametrize("backend", ["cpu", "", None])
def test_a_cpu_head_is_not_judged(backend: str | None) -> None:
    assert devices.head_device_problem(backend, LAB_HEAD) == ""
