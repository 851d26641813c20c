"""The production inventory names the Spark's GPU, in a form rpc_server's preflight accepts.

ggml-rpc-server at the pin (tools/rpc/rpc-server.cpp, get_devices()) looks
each -d name up with ggml_backend_dev_by_name() (case-insensitive) and exits
1 with "unknown device" when one is missing, instead of falling back to the
CPU as it does without -d. CUDA devices are named CUDA<i> (ggml-cuda.cu).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _preflight_device_pattern() -> str:
    tasks = yaml.safe_load((ROOT / "roles/rpc_server/tasks/preflight.yml").read_text(encoding="utf-8"))
    for task in tasks:
        for rule in task.get("ansible.builtin.assert", {}).get("that", []):
            match = re.match(r"rpc_server_device is match\('(.*)'\)$", str(rule))
            if match:
                return match.group(1)
    raise AssertionError("rpc_server's preflight has no rule for rpc_server_device")


def test_the_spark_names_its_cuda_device_and_preflight_accepts_it() -> None:
    hosts = yaml.safe_load((ROOT / "inventory/production/hosts.yml").read_text(encoding="utf-8"))
    spark = hosts["llama_cluster"]["children"]["llama_workers"]["hosts"]["dgx-spark"]
    assert spark["llama_cpp_backend"] == "cuda"
    assert re.fullmatch(r"CUDA\d+", spark["rpc_server_device"])
    assert re.match(_preflight_device_pattern(), spark["rpc_server_device"])


def test_no_group_variable_undoes_it() -> None:
    for path in (ROOT / "inventory/production/group_vars").rglob("*.yml"):
        assert "rpc_server_device" not in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}), path
