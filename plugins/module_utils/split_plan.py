"""Plan how llama-server splits a GGUF model over its devices, before it loads.

The layer assignment copies llama.cpp 0c1e570 exactly, float32 arithmetic
included, so the plan can be compared with what llama.cpp logs:

- Devices (src/llama.cpp, llama_prepare_model_devices): every RPC device
  first, in ``--rpc`` order, then the local GPUs. The CPU is not in the
  list; it holds what is not offloaded. RPC buffers are named
  ``RPC<device index on that server>[host:port]``
  (ggml/src/ggml-rpc/ggml-rpc.cpp, ggml_backend_rpc_buffer_type).
- Layers (src/llama-model.cpp, load_tensors): the split proportions are
  summed and normalised to cumulative fractions; with ``-ngl N`` the last
  ``min(N, n_layer + 1)`` of the ``n_layer + 1`` layers (the repeating ones,
  then the output layer) are offloaded, and layer ``il`` goes to the first
  device whose fraction is greater than ``(il - first_offloaded) /
  n_offloaded``. The input layer (token_embd) always stays on the CPU. A
  model without output.weight reuses token_embd as its output, so the
  output device holds a second copy (src/llama-model-loader.cpp).
- KV cache (src/llama-kv-cache.cpp, llama-kv-cache-iswa.cpp,
  llama-context.cpp): each layer's K and V live on the layer's device,
  ``n_ctx`` is padded to 256 cells, and sliding-window layers get
  ``pad256(min(n_ctx, n_swa * n_parallel + n_ubatch))`` cells in a unified
  cache (llama-server's default: 4 slots, unified).
- Compute buffers are an estimate (estimate_compute); pass ``compute`` to
  use your own numbers.

llama-server leaves an explicit ``--tensor-split`` and ``-ngl`` alone (the
``--fit`` step in common/fit.cpp aborts when either is set), so pass the
plan's ``args`` to make llama.cpp do what the plan says. Standard library
only, so unit tests need no Ansible.
"""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB
HOST = "CPU"
KV_PAD = 256
N_UBATCH = 512
N_PARALLEL = 4  # llama-server's auto slots, with kv_unified (tools/server/server.cpp)
SCHED_MAX_COPIES = 4  # GGML_SCHED_MAX_COPIES: input copies under pipeline parallelism
# KV cache types llama.cpp accepts (-ctk/-ctv) -> (block size, bytes per block).
CACHE_TYPES: dict[str, tuple[int, int]] = {
    "f32": (1, 4),
    "f16": (1, 2),
    "bf16": (1, 2),
    "q8_0": (32, 34),
    "q4_0": (32, 18),
    "q4_1": (32, 20),
    "iq4_nl": (32, 18),
    "q5_0": (32, 22),
    "q5_1": (32, 24),
}
# Sliding-window layout each architecture's load_arch_hparams sets when the
# file has no pattern (src/models/<arch>.cpp at 0c1e570):
# arch -> (pattern, dense_first, window when the file has none).
SWA_ARCHS: dict[str, tuple[int, bool, int]] = {
    "gemma2": (2, False, 4096),
    "gemma3": (6, False, 0),
    "cohere2": (4, False, 0),
    "gpt-oss": (2, False, 0),
}


class PlanError(ValueError):
    """The inputs cannot be planned, or (strict) the plan does not fit."""


def _f32(value: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def _pad(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def parse_tensor_split(value: Any) -> list[float]:
    """``"3,1"``, ``"3/1"`` or ``[3, 1]`` -> ``[3.0, 1.0]``, as llama.cpp's -ts reads it."""
    if value is None or value == "":
        return []
    parts = re.split(r"[,/]+", value) if isinstance(value, str) else list(value)
    try:
        return [float(part) for part in parts]
    except (TypeError, ValueError):
        raise PlanError(f"tensor_split must be numbers, got {value!r}") from None


def assign_layers(n_layer: int, n_gpu_layers: int | None, tensor_split: Sequence[float]) -> list[int | None]:
    """Device index (into the split devices) of layers 0..n_layer; None is the CPU.

    The last entry is the output layer. Mirrors load_tensors in
    src/llama-model.cpp (0c1e570), float32 arithmetic included.
    """
    n_devices = len(tensor_split)
    ngl = n_layer + 1 if n_gpu_layers is None or n_gpu_layers < 0 else n_gpu_layers
    first = max(n_layer + 1 - ngl, 0)
    offloaded = min(ngl, n_layer + 1) if n_devices else 0
    cumulative, total = [], 0.0
    for share in tensor_split:
        total = _f32(total + _f32(share))
        cumulative.append(total)
    if offloaded and total <= 0:
        raise PlanError("the tensor split adds up to 0: no device can take a layer")
    cumulative = [_f32(c / total) for c in cumulative] if offloaded else cumulative
    layers: list[int | None] = []
    for il in range(n_layer + 1):
        if il < first or il - first >= offloaded:
            layers.append(None)
        else:
            layers.append(bisect.bisect_right(cumulative, _f32(_f32(il - first) / offloaded)))
    return layers


def swa_layers(model: Mapping[str, Any]) -> tuple[list[bool], int, str]:
    """Which layers use a sliding window, the window, and a note ('' if known)."""
    n_layer = int(model["block_count"])
    arch = str(model.get("architecture", ""))
    pattern = model.get("sliding_window_pattern")
    default = SWA_ARCHS.get(arch)
    window = int(model.get("sliding_window") or (default[2] if default else 0))
    if isinstance(pattern, list):
        flags = [bool(flag) for flag in pattern[:n_layer]]
        return flags + [False] * (n_layer - len(flags)), window, ""
    if not window:
        return [False] * n_layer, 0, ""
    if default is None and pattern is None:
        note = (f"{arch} has a sliding window of {window} but no known layer pattern: "
                "every layer's KV is planned at full size (an upper bound)")
        return [False] * n_layer, 0, note
    n_pattern, dense_first = (int(pattern), False) if pattern is not None else default[:2]
    if dense_first:
        flags = [n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer)]
    else:
        flags = [n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer)]
    return flags, window, ""


def kv_cells(n_ctx: int, window: int, n_parallel: int, kv_unified: bool, n_ubatch: int) -> tuple[int, int]:
    """Cells (all streams) of the full and of the sliding-window KV caches."""
    n_ctx = _pad(n_ctx, KV_PAD)
    streams = 1 if kv_unified else n_parallel
    per_stream = n_ctx if kv_unified else _pad(n_ctx // n_parallel, KV_PAD)
    swa = _pad(min(per_stream, window * (n_parallel if kv_unified else 1) + n_ubatch), KV_PAD) if window else 0
    return per_stream * streams, swa * streams


def _per_layer(value: Any, il: int) -> int:
    return int(value[il]) if isinstance(value, list) else int(value or 0)


def _row_bytes(cache_type: str, elements: int) -> int:
    block, size = CACHE_TYPES[cache_type]
    if elements % block:
        raise PlanError(f"KV rows of {elements} elements do not divide into {cache_type} blocks of {block}")
    return elements // block * size


def layer_kv_bytes(model: Mapping[str, Any], il: int, cells: int, cache_k: str, cache_v: str) -> int:
    """K plus V bytes of layer ``il`` for ``cells`` cells."""
    heads = _per_layer(model.get("head_count_kv") or model.get("head_count"), il)
    k = _row_bytes(cache_k, int(model["key_length"]) * heads)
    v = _row_bytes(cache_v, int(model["value_length"]) * heads)
    return (k + v) * cells


def _largest(value: Any, fallback: int) -> int:
    if isinstance(value, list):
        return max((int(v) for v in value), default=fallback)
    return int(value) if value else fallback


def estimate_compute(model: Mapping[str, Any], *, layers: bool, output: bool, host: bool,
                     mask_cells: int, n_ubatch: int, copies: int) -> int:
    """A rough compute-buffer size for one device, in bytes.

    Activations of one layer (n_ubatch tokens, f32: 4 FFN rows, 2 attention
    rows, 4 embedding rows) where the device has layers; the f16 attention
    masks (one row per KV cell per token, copied ``copies`` times under
    pipeline parallelism) on every device; the logits where the output is;
    the input embeddings on the host. It assumes flash attention (llama.cpp's
    ``auto`` turns it on for CPU, CUDA and Metal); without it add
    ``n_ubatch * n_ctx * n_head * 4``. Against llama.cpp's logs of
    gemma-3-270m (tests/unit/data) it is 3-9% high with every layer
    offloaded, and 10 MiB (50%) high on a device of a partial offload.
    """
    n_embd = int(model.get("embedding_length") or 0)
    n_ff = _largest(model.get("feed_forward_length"), 4 * n_embd)
    width = _largest(model.get("head_count"), 0) * int(model.get("key_length") or 0)
    total = n_ubatch * 2 * mask_cells * copies
    if layers:
        total += n_ubatch * 4 * (4 * n_ff + 2 * width + 4 * n_embd)
    if output:
        total += n_ubatch * 4 * (int(model.get("vocab_size") or 0) + n_embd)
    if host:
        total += n_ubatch * 4 * n_embd * copies
    return total


def _check_devices(devices: Sequence[Mapping[str, Any]]) -> None:
    seen_gpu = ""
    for device in devices:
        for key in ("name", "free_bytes", "total_bytes"):
            if key not in device:
                raise PlanError(f"device {device!r} has no {key}")
        name = str(device["name"])
        if name == HOST:
            continue
        if name.startswith("RPC") and seen_gpu:
            raise PlanError(f"{name} comes after {seen_gpu}: llama.cpp puts every RPC device first")
        if not name.startswith("RPC"):
            seen_gpu = seen_gpu or name


def _reserve(reserve: Any, total: int) -> int:
    if isinstance(reserve, bool) or not isinstance(reserve, (int, float)) or reserve < 0:
        raise PlanError(f"reserve must be bytes (int) or a fraction below 1 (float), got {reserve!r}")
    if isinstance(reserve, float) and reserve < 1:
        return int(total * reserve)
    return int(reserve)


def _ranges(layers: Sequence[int]) -> str:
    spans: list[str] = []
    for il in layers:
        if spans and spans[-1].split("-")[-1] == str(il - 1):
            spans[-1] = f"{spans[-1].split('-')[0]}-{il}"
        else:
            spans.append(str(il))
    return ",".join(spans)


def _format_split(values: Sequence[float]) -> str:
    return ",".join(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values)


def size(n_bytes: float | None) -> str:
    """Bytes -> ``'181.4 MiB'`` / ``'20.0 GiB'``; '-' for None."""
    if n_bytes is None:
        return "-"
    return f"{n_bytes / GIB:.1f} GiB" if abs(n_bytes) >= GIB else f"{n_bytes / MIB:.1f} MiB"


def _default_shares(split_devices: Sequence[Mapping[str, Any]], host: Mapping[str, Any] | None) -> list[float]:
    """Each device's free MiB; a device that reports 0/0 borrows the host's (as llama.cpp does)."""
    shares = []
    for device in split_devices:
        free = int(device["free_bytes"])
        if not free and not device["total_bytes"] and host is not None:
            free = int(host["free_bytes"])
        shares.append(float(free // MIB))
    return shares


def _weights(model: Mapping[str, Any], layers: Sequence[int], output: bool, is_host: bool) -> int:
    """Weight bytes of a device: its layers, the input layer on the host, the output layer."""
    total = sum(int(model["layer_bytes"][il]) for il in layers if il < len(model["layer_bytes"]))
    if is_host:
        total += int(model.get("input_bytes", 0))
    if output:
        total += int(model.get("output_bytes", 0))
        # A tied output is a second copy of token_embd, except on the host,
        # where both map the same bytes of the file.
        if model.get("tied_output") and not is_host:
            total += int((model.get("non_layer_bytes") or {}).get("token_embd.weight", 0))
    return total


def _compute_bytes(compute: Any, name: str, estimate: int) -> int:
    """The caller's compute bytes for ``name`` (one number, or a mapping by name), else the estimate."""
    if isinstance(compute, Mapping):
        return int(compute.get(name, estimate))
    return estimate if compute is None else int(compute)


def plan(model: Mapping[str, Any], devices: Sequence[Mapping[str, Any]], context: int = 0,
         cache_type: str = "f16", cache_type_v: str | None = None, compute: Any = None,
         reserve: Any = 0, tensor_split: Any = None, n_gpu_layers: int | None = None,
         n_parallel: int = N_PARALLEL, kv_unified: bool = True, n_ubatch: int = N_UBATCH) -> dict[str, Any]:
    """Per-device memory for ``model`` (gguf_model.read_model) over ``devices``.

    ``devices`` are ``{name, free_bytes, total_bytes}`` in llama.cpp's order
    (RPC first); the one named ``CPU`` is the head's host memory. ``context``
    0 means the trained context. ``compute`` is bytes for every device, a
    mapping of name to bytes, or None for estimate_compute. ``reserve`` is
    bytes (int) or a fraction of each device's total (float below 1).
    ``tensor_split`` defaults to each device's free MiB.
    """
    cache_v = cache_type_v or cache_type
    for name in (cache_type, cache_v):
        if name not in CACHE_TYPES:
            raise PlanError(f"unknown KV cache type {name!r}; one of {', '.join(CACHE_TYPES)}")
    _check_devices(devices)
    missing = [key for key in ("block_count", "layer_bytes", "key_length", "value_length") if not model.get(key)]
    if missing:
        raise PlanError(f"the model has no {', '.join(missing)}: cannot size its layers and KV cache")
    n_ctx = int(context or model.get("context_length") or 0)
    if n_ctx <= 0:
        raise PlanError("no context length: pass context or use a model with context_length")
    n_layer = int(model["block_count"])
    host = next((d for d in devices if d["name"] == HOST), None)
    split_devices = [d for d in devices if d["name"] != HOST]
    shares = parse_tensor_split(tensor_split)
    if len(shares) > len(split_devices):
        raise PlanError(f"tensor_split has {len(shares)} entries for {len(split_devices)} devices")
    if not any(shares):
        shares = _default_shares(split_devices, host)
    shares += [0.0] * (len(split_devices) - len(shares))
    where = assign_layers(n_layer, n_gpu_layers, shares)
    ngl = n_layer + 1 if n_gpu_layers is None or n_gpu_layers < 0 else n_gpu_layers
    # src/llama-context.cpp: several devices and every layer offloaded.
    pipeline = len(split_devices) > 1 and ngl > n_layer
    swa, window, swa_note = swa_layers(model)
    full_cells, swa_cells = kv_cells(n_ctx, window, n_parallel, kv_unified, n_ubatch)
    mask_cells = full_cells + (swa_cells if any(swa) else 0)

    rows = []
    for index, device in [(None, host), *enumerate(split_devices)]:
        name = device["name"] if device else HOST
        mine = [il for il in range(n_layer) if where[il] == index]
        output = where[n_layer] == index
        estimate = estimate_compute(model, layers=bool(mine), output=output, host=index is None,
                                    mask_cells=mask_cells, n_ubatch=n_ubatch,
                                    copies=SCHED_MAX_COPIES if pipeline else 1)
        row = {
            "name": name,
            "role": "host" if index is None else "rpc" if name.startswith("RPC") else "gpu",
            "split_index": index,
            "tensor_split": None if index is None else shares[index],
            "layers": mine,
            "n_layers": len(mine),
            "input": index is None,
            "output": output,
            "weights_bytes": _weights(model, mine, output, index is None),
            "kv_bytes": sum(layer_kv_bytes(model, il, swa_cells if swa[il] else full_cells, cache_type, cache_v)
                            for il in mine),
            "compute_bytes": _compute_bytes(compute, name, estimate),
            "reserve_bytes": _reserve(reserve, int(device["total_bytes"])) if device else 0,
            "free_bytes": int(device["free_bytes"]) if device else None,
            "total_bytes": int(device["total_bytes"]) if device else None,
        }
        row["needed_bytes"] = row["weights_bytes"] + row["kv_bytes"] + row["compute_bytes"] + row["reserve_bytes"]
        row["fits"] = None if device is None else row["needed_bytes"] <= row["free_bytes"]
        row["short_bytes"] = None if device is None else max(row["needed_bytes"] - row["free_bytes"], 0)
        rows.append(row)
    notes = [swa_note] if swa_note else []
    if host is None:
        notes.append("no CPU device given: the head's own memory (input layer, CPU layers) is not checked")
    if model.get("tied_output"):
        notes.append("no output.weight: the output device holds a copy of token_embd")
    checked = [row for row in rows if row["fits"] is not None]
    fits = all(row["fits"] for row in checked)
    args = ["--n-gpu-layers", str(ngl)]
    if split_devices:
        args = ["--tensor-split", _format_split(shares), *args]
    return {
        "architecture": model.get("architecture"),
        "block_count": n_layer,
        "tensor_bytes": model.get("tensor_bytes"),
        "context": _pad(n_ctx, KV_PAD),
        "kv_cells": full_cells,
        "kv_cells_swa": swa_cells if any(swa) else 0,
        "cache_type_k": cache_type,
        "cache_type_v": cache_v,
        "n_gpu_layers": ngl,
        "offloaded_layers": min(ngl, n_layer + 1) if split_devices else 0,
        "pipeline_parallel": pipeline,
        "tensor_split": shares,
        "args": args,
        "devices": rows,
        "fits": fits,
        "verdict": _verdict(checked, fits),
        "notes": notes,
    }


def _verdict(rows: Sequence[Mapping[str, Any]], fits: bool) -> str:
    if not rows:
        return "nothing to check: no device has a known free size"
    if fits:
        tight = min(rows, key=lambda r: r["free_bytes"] - r["needed_bytes"])
        return (f"fits: every device has room; tightest {tight['name']} needs {size(tight['needed_bytes'])} "
                f"of {size(tight['free_bytes'])} free")
    short = [
        f"{r['name']} needs {size(r['needed_bytes'])} (weights {size(r['weights_bytes'])}, KV {size(r['kv_bytes'])}, "
        f"compute {size(r['compute_bytes'])}, reserve {size(r['reserve_bytes'])}), "
        f"{size(r['free_bytes'])} free, short by {size(r['short_bytes'])}"
        for r in rows if not r["fits"]
    ]
    return "does not fit: " + "; ".join(short)


def check_fits(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return the plan, or raise PlanError with its verdict when it does not fit."""
    if not result["fits"]:
        raise PlanError(result["verdict"])
    return result


def table(result: Mapping[str, Any]) -> str:
    """The plan as a one-screen text table."""
    head = (f"{result['architecture']}: {result['block_count']} layers, {size(result['tensor_bytes'])}, "
            f"ctx {result['context']}, KV {result['cache_type_k']}/{result['cache_type_v']}, "
            + " ".join(result["args"]))
    width = max([len("device")] + [len(r["name"]) for r in result["devices"]])
    columns = ("weights", "KV", "compute", "reserve", "needed", "free")
    lines = [head, f"{'device':<{width}}  {'layers':<14}" + "".join(f"{c:>11}" for c in columns) + "  fits"]
    for row in result["devices"]:
        layers = ",".join(filter(None, ["in" if row["input"] else "", _ranges(row["layers"]),
                                        "out" if row["output"] else ""])) or "-"
        values = (row["weights_bytes"], row["kv_bytes"], row["compute_bytes"], row["reserve_bytes"],
                  row["needed_bytes"], row["free_bytes"])
        verdict = "-" if row["fits"] is None else "yes" if row["fits"] else "NO"
        lines.append(f"{row['name']:<{width}}  {layers:<14}" + "".join(f"{size(v):>11}" for v in values)
                     + f"  {verdict}")
    lines.append(result["verdict"])
    lines.extend(f"note: {note}" for note in result["notes"])
    return "\n".join(lines)


_KINDS = {"model": "weights_bytes", "KV": "kv_bytes", "KV cache": "kv_bytes", "compute": "compute_bytes"}


def compare(result: Mapping[str, Any], buffers: Sequence[Mapping[str, Any]], tolerance: float = 0.15,
            min_mib: float = 16.0) -> dict[str, Any]:
    """Planned against logged buffers, per device and kind.

    ``buffers`` are cluster.rpc_buffers rows ``{device, endpoint, kind,
    mib}``; rows of one device and kind are added up (the sliding-window
    and full KV caches log one line each). A row is within when the
    difference is at most ``tolerance`` of the planned size or ``min_mib``,
    whichever is larger: small buffers differ by a few MiB of allocator
    padding that cannot matter for fitting.
    """
    logged: dict[tuple[str, str], float] = {}
    for buffer in buffers:
        kind = _KINDS.get(str(buffer.get("kind")))
        if kind is None:
            continue
        name = f"{buffer['device']}[{buffer['endpoint']}]" if buffer.get("endpoint") else str(buffer["device"])
        logged[(name, kind)] = logged.get((name, kind), 0.0) + float(buffer["mib"])
    planned_names = {row["name"] for row in result["devices"]}
    rows = []
    for device in result["devices"]:
        if device["role"] == "host":
            continue
        for kind, field in (("model", "weights_bytes"), ("KV", "kv_bytes"), ("compute", "compute_bytes")):
            planned = device[field] / MIB
            reported = logged.get((device["name"], field))
            if reported is None and planned == 0:
                continue
            diff = None if reported is None else reported - planned
            rows.append({
                "device": device["name"],
                "kind": kind,
                "planned_mib": round(planned, 2),
                "reported_mib": None if reported is None else round(reported, 2),
                "diff_mib": None if diff is None else round(diff, 2) + 0.0,  # no -0.0
                "diff_pct": None if diff is None or not planned else round(100 * diff / planned, 1) + 0.0,
                "within": diff is not None and abs(diff) <= max(tolerance * planned, min_mib),
            })
    unexpected = sorted({name for name, _ in logged if name not in planned_names})
    return {
        "ok": all(row["within"] for row in rows) and not unexpected,
        "tolerance": tolerance,
        "min_mib": min_mib,
        "rows": rows,
        "unexpected": unexpected,
    }


def llama_devices(rpc_results: Sequence[Mapping[str, Any]], local: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Planner devices in llama.cpp's order from rpc_hello results and device_memory devices.

    ``rpc_results`` in ``--rpc`` order, each ``{endpoint, devices: [{index,
    free_bytes, total_bytes}]}``; ``local`` the head's devices. RPC devices
    come first, named as their buffers are (``RPC0[host:port]``), then the
    local GPUs, then the CPU.
    """
    found = [
        {"name": f"RPC{d['index']}[{r['endpoint']}]", "free_bytes": int(d["free_bytes"]),
         "total_bytes": int(d["total_bytes"])}
        for r in rpc_results for d in r["devices"]
    ]
    found += [dict(d) for d in local if d["name"] != HOST]
    found += [dict(d) for d in local if d["name"] == HOST]
    return found


def rpc_results_from_memory(endpoints: Sequence[str], memories: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """What each worker's RPC server will offer, from device_memory run on the worker itself.

    Without a HELLO probe (which needs the worker free of its head), the
    worker's own measurement stands in: its accelerators when it has any,
    else its CPU (the RPC server's CPU device), indexed as the server
    numbers them. The result has the shape of rpc_hello results, in
    ``--rpc`` order, for llama_devices.
    """
    results = []
    for endpoint, devices in zip(endpoints, memories):
        offered = [d for d in devices if d["name"] != HOST] or [d for d in devices if d["name"] == HOST]
        results.append({
            "endpoint": endpoint,
            "devices": [{"index": i, "free_bytes": int(d["free_bytes"]), "total_bytes": int(d["total_bytes"])}
                        for i, d in enumerate(offered)],
        })
    return results
