"""The cluster filters: --rpc endpoints from the inventory, and the load-log proof."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FILTER_PATH = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "cluster.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_filters", FILTER_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["cluster_filters"] = module
    spec.loader.exec_module(module)
    return module


cluster = _load()

# Lines as llama-server 0c1e570 printed them in the lab's journal (--log-verbosity 4)
# while loading gemma-3-270m over RPC; the second worker's line is added.
LOAD_LOG = """\
0.00.008.271 I srv    load_model: loading model '/var/lib/llama-models/gemma-3-270m-q4_k_m.gguf'
0.00.854.522 I load_tensors: offloaded 19/19 layers to GPU
0.00.854.528 I load_tensors:   CPU_Mapped model buffer size =   170.00 MiB
0.00.854.529 I load_tensors: RPC0[192.168.100.2:50052] model buffer size =   160.56 MiB
0.00.854.530 I load_tensors: RPC1[192.168.100.3:50052] model buffer size =    70.25 MiB
0.01.333.655 I llama_context:        CPU  output buffer size =     4.00 MiB
0.01.336.034 I llama_kv_cache: RPC0[192.168.100.2:50052] KV buffer size =    52.00 MiB
0.01.359.208 I sched_reserve: RPC0[192.168.100.2:50052] compute buffer size =   130.01 MiB
0.01.359.212 I sched_reserve:        CPU compute buffer size =     9.02 MiB
"""


@pytest.mark.parametrize(
    ("hostvars", "expected"),
    [
        ({"spark": {"direct_link_address": "192.168.100.2/24"}}, ["192.168.100.2:50052"]),
        ({"spark": {"direct_link_address": "192.168.100.2/24", "rpc_server_port": "50099"}}, ["192.168.100.2:50099"]),
    ],
)
def test_rpc_endpoints_use_link_address_and_port(hostvars: dict, expected: list[str]) -> None:
    assert cluster.rpc_endpoints(["spark"], hostvars) == expected


def test_rpc_endpoints_keep_worker_order() -> None:
    hostvars = {
        "a": {"direct_link_address": "10.0.0.3/24"},
        "b": {"direct_link_address": "10.0.0.2/24", "rpc_server_port": 6000},
    }
    assert cluster.rpc_endpoints(["a", "b"], hostvars) == ["10.0.0.3:50052", "10.0.0.2:6000"]


def test_rpc_buffers_name_every_rpc_buffer() -> None:
    buffers = cluster.rpc_buffers(LOAD_LOG)
    assert [(b["device"], b["endpoint"], b["kind"], b["mib"]) for b in buffers] == [
        ("RPC0", "192.168.100.2:50052", "model", 160.56),
        ("RPC1", "192.168.100.3:50052", "model", 70.25),
        ("RPC0", "192.168.100.2:50052", "KV", 52.0),
        ("RPC0", "192.168.100.2:50052", "compute", 130.01),
    ]


def test_rpc_model_mib_sums_model_buffers_per_endpoint() -> None:
    assert cluster.rpc_model_mib(LOAD_LOG) == {"192.168.100.2:50052": 160.56, "192.168.100.3:50052": 70.25}


def test_local_only_log_has_no_rpc_model_buffer() -> None:
    local = "load_tensors:   CPU_Mapped model buffer size =   241.00 MiB\n"
    assert cluster.rpc_model_mib(local) == {}
    assert cluster.rpc_buffers(local) == []


@pytest.mark.parametrize(
    ("log", "expected"),
    [(LOAD_LOG, {"offloaded": 19, "total": 19}), ("nothing here", None)],
)
def test_offloaded_layers(log: str, expected: dict | None) -> None:
    assert cluster.offloaded_layers(log) == expected


@pytest.mark.parametrize(
    ("build_info", "commit"),
    [("b1-0c1e570", "0c1e570"), ("b7442-0C1E57098BBA", "0c1e57098bba"), ("b1-unknown", "unknown"), ("0c1e570", "")],
)
def test_build_commit(build_info: str, commit: str) -> None:
    assert cluster.build_commit(build_info) == commit


@pytest.mark.parametrize(
    ("short", "same"),
    [("0c1e570", True), ("0c1e57098bba", True), ("0c1e571", False), ("0c1e5", False), ("", False), ("unknown", False)],
)
def test_same_commit(short: str, same: bool) -> None:
    assert cluster.same_commit(short, "0c1e57098bba43ac29e6e3b677cdceebdd22334f") is same


def test_stamp_binaries_point_under_current() -> None:
    stamp = {"release": "0c1e57098bba-cpu-1234567890", "binaries": {"llama_server": "llama-server", "llama_bench": "llama-bench"}}
    assert cluster.stamp_binaries(stamp, "/opt/llama.cpp") == {
        "llama_server": "/opt/llama.cpp/current/bin/llama-server",
        "llama_bench": "/opt/llama.cpp/current/bin/llama-bench",
    }
    assert cluster.stamp_binaries({"binaries": {"rpc_server": "rpc-server"}}, "/srv/llama/") == {
        "rpc_server": "/srv/llama/current/bin/rpc-server"
    }


@pytest.mark.parametrize("stamp", [{}, {"binaries": ["llama-server"]}])
def test_stamp_binaries_needs_the_binaries_mapping(stamp: dict) -> None:
    with pytest.raises(ValueError, match="no 'binaries' mapping"):
        cluster.stamp_binaries(stamp, "/opt/llama.cpp")
