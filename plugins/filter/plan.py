"""Split-plan filters: plan a model over the cluster's devices, print it, check it against the load log.

The planner is plugins/module_utils/split_plan.py, loaded by path so that
there is one implementation and this file stays importable without Ansible.

- ``model | split_plan(devices, context, ...)``: the plan (see split_plan.plan);
  ``strict=true`` fails the template with the verdict when it does not fit.
- ``plan | plan_table``: the plan as one screen of text.
- ``plan | plan_vs_buffers(log | rpc_buffers, tolerance=0.15)``: planned
  against logged buffer sizes per device.
- ``probe_results | plan_devices(head_devices)``: rpc_hello results and the
  head's device_memory devices, in llama.cpp's device order.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any


def _module_util(name: str) -> ModuleType:
    key = f"llama_cluster_{name}"
    if key not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "module_utils" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(key, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


_PLAN = _module_util("split_plan")


def split_plan(model: Mapping[str, Any], devices: Sequence[Mapping[str, Any]], context: int = 0,
               cache_type: str = "f16", compute: Any = None, reserve: Any = 0, tensor_split: Any = None,
               n_gpu_layers: int | None = None, cache_type_v: str | None = None,
               n_parallel: int = _PLAN.N_PARALLEL, kv_unified: bool = True, n_ubatch: int = _PLAN.N_UBATCH,
               strict: bool = False) -> dict[str, Any]:
    """gguf_info result + devices -> per-device plan; ``strict`` raises when it does not fit."""
    result = _PLAN.plan(model, devices, context, cache_type=cache_type, cache_type_v=cache_type_v,
                        compute=compute, reserve=reserve, tensor_split=tensor_split, n_gpu_layers=n_gpu_layers,
                        n_parallel=n_parallel, kv_unified=kv_unified, n_ubatch=n_ubatch)
    return dict(_PLAN.check_fits(result)) if strict else result


def plan_table(plan: Mapping[str, Any]) -> str:
    """The plan as a one-screen text table."""
    return _PLAN.table(plan)


def plan_vs_buffers(plan: Mapping[str, Any], buffers: Sequence[Mapping[str, Any]], tolerance: float = 0.15,
                    min_mib: float = 16.0) -> dict[str, Any]:
    """Planned against rpc_buffers rows, per device and kind, within ``tolerance``."""
    return _PLAN.compare(plan, buffers, tolerance, min_mib)


def plan_devices(rpc_results: Sequence[Mapping[str, Any]], head_devices: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """rpc_hello results (in --rpc order) and device_memory devices -> planner devices."""
    return _PLAN.llama_devices(rpc_results, head_devices)


def worker_devices(endpoints: Sequence[str], memories: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Each worker's device_memory devices -> rpc_hello-shaped results, in --rpc order."""
    return _PLAN.rpc_results_from_memory(endpoints, memories)


class FilterModule:
    """Split-plan helpers."""

    def filters(self) -> dict:
        return {
            "split_plan": split_plan,
            "plan_table": plan_table,
            "plan_vs_buffers": plan_vs_buffers,
            "plan_devices": plan_devices,
            "worker_devices": worker_devices,
        }
