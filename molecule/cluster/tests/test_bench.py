"""The benchmark reports: files, table, figures, ratios and meta.

The bench stage must have run (site.yml --tags bench, or
tests/integration/bench.yml). Against the lab without molecule:
  MOLECULE_INVENTORY_FILE=inventory/lab/hosts.yml MOLECULE_EPHEMERAL_DIRECTORY=$PWD \\
    pytest molecule/cluster/tests/test_bench.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import labhosts

HEADS = labhosts.group("llama_heads")
WORKERS = labhosts.group("llama_workers")
STAMP = "/opt/llama.cpp/current/llama-cpp-stamp.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _latest() -> Path:
    """The newest bench-<timestamp>.json report (a sweep's are bench-<timestamp>-<name>.json)."""
    found = sorted(labhosts.reports_dir().glob("bench-*.json"))
    assert found, f"no bench-*.json in {labhosts.reports_dir()}: run the bench stage first"
    return found[-1]


def _report() -> dict[str, Any]:
    return json.loads(_latest().read_text(encoding="utf-8"))


def _stamp(name: str) -> dict[str, Any]:
    return json.loads(labhosts.connect(name).file(STAMP).content_string)


@pytest.mark.parametrize("suffix", [".json", ".md", ".png"])
def test_report_files_exist(suffix: str) -> None:
    path = _latest().with_suffix(suffix)
    assert path.is_file() and path.stat().st_size > 0


def test_png_is_a_png() -> None:
    assert _latest().with_suffix(".png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("mode", ["local", "rpc"])
def test_table_row_per_mode(mode: str) -> None:
    markdown = _latest().with_suffix(".md").read_text(encoding="utf-8")
    assert "| Model | Mode | Prefill tok/s | Decode tok/s |" in markdown
    for entry in _report()["summary"]["models"]:
        fig = entry[mode]
        cells = f"| {entry['model']} | {mode} | {fig['prefill_tps']:.2f} ± {fig['prefill_stddev']:.2f} | "
        assert cells in markdown


@pytest.mark.parametrize("mode", ["local", "rpc"])
@pytest.mark.parametrize("kind", ["prefill", "decode"])
def test_figures_positive_and_from_raw_rows(mode: str, kind: str) -> None:
    report = _report()
    test = "pp" if kind == "prefill" else "tg"
    for entry in report["summary"]["models"]:
        rows = [r for r in report["raw"][mode] if r["model"] == entry["model"] and r["test"] == test]
        assert len(rows) == 1
        assert entry[mode][f"{kind}_tps"] > 0
        assert entry[mode][f"{kind}_tps"] == rows[0]["avg_ts"]
        samples = rows[0]["samples_ts"]
        assert samples and all(s > 0 for s in samples)
        assert math.isclose(sum(samples) / len(samples), rows[0]["avg_ts"], rel_tol=1e-3)


@pytest.mark.parametrize("kind", ["prefill", "decode"])
def test_ratio_is_rpc_over_local(kind: str) -> None:
    for entry in _report()["summary"]["models"]:
        assert entry["ratio"][kind] == entry["rpc"][f"{kind}_tps"] / entry["local"][f"{kind}_tps"]


def test_rpc_run_went_through_the_workers() -> None:
    report = _report()
    endpoints = [f"{labhosts.address(w)}:{int(labhosts.hostvars(w).get('cluster_rpc_port', 50052))}" for w in WORKERS]
    argv = report["meta"]["settings"]["argv"]
    assert argv["rpc"][argv["rpc"].index("--rpc") + 1] == ",".join(endpoints)
    assert "--rpc" not in argv["local"]
    assert all("RPC" in row["backends"] for row in report["raw"]["rpc"])
    assert all("RPC" not in row["backends"] for row in report["raw"]["local"])


@pytest.mark.parametrize("name", HEADS + WORKERS)
def test_meta_names_each_node_backend(name: str) -> None:
    nodes = {node["name"]: node for node in _report()["meta"]["nodes"]}
    stamp = _stamp(name)
    assert nodes[name]["backend"] == stamp["backend"]
    assert nodes[name]["commit"] == stamp["commit"]
    assert nodes[name]["role"] == ("head" if name in HEADS else "worker")


@pytest.mark.parametrize("name", HEADS)
def test_meta_commit_is_the_heads_build(name: str) -> None:
    assert _report()["meta"]["commit"] == _stamp(name)["commit"]


@pytest.mark.parametrize(("head", "worker"), [(h, w) for h in HEADS for w in WORKERS])
def test_meta_carries_link_figures(head: str, worker: str) -> None:
    link = json.loads((labhosts.reports_dir() / f"link-{head}-{worker}.json").read_text(encoding="utf-8"))
    meta = _report()["meta"]
    assert meta["links"][worker]["measured_at"] == link["measured_at"], (
        "the link was measured again after the latest bench; run the bench stage again"
    )
    assert meta["links"][worker] == {key: link[key] for key in ("link", "gbps", "mtu", "rtt_ms", "measured_at")}
    if worker == WORKERS[0]:
        assert meta["link"] == {key: link[key] for key in ("gbps", "mtu", "rtt_ms")}
        markdown = _latest().with_suffix(".md").read_text(encoding="utf-8")
        assert f"MTU {link['mtu']}" in markdown
