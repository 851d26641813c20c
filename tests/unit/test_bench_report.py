"""bench_report on real llama-bench output (gemma-3-270m, -p 32 -n 16 -r 1, local and over RPC)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
# The role carries its renderer: one file, the library and the command line.
SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "llama_bench" / "files" / "bench_report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module  # its dataclasses look the module up while it loads
    spec.loader.exec_module(module)
    return module


bench_report = _load()
MODEL = "gemma-3-270m-q4_k_m.gguf"
META: dict[str, Any] = {
    "commit": "0c1e57098bba43ac29e6e3b677cdceebdd22334f",
    "nodes": [
        {"name": "spark", "role": "head", "backend": "CUDA"},
        {"name": "studio", "role": "worker", "backend": "Metal"},
    ],
    "link": {
        "gbps": {"a_to_b": 9.57, "b_to_a": 9.92},
        "mtu": 9000,
        "rtt_ms": {"min": 0.031, "avg": 0.052, "max": 0.094},
    },
}


def text(name: str) -> str:
    return (DATA / name).read_text()


def records(name: str) -> list[dict[str, Any]]:
    return json.loads(text(name))


def avg_ts(name: str, n_prompt: int, n_gen: int) -> float:
    [match] = [
        r["avg_ts"]
        for r in records(name)
        if r["n_prompt"] == n_prompt and r["n_gen"] == n_gen
    ]
    return float(match)


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    local = bench_report.parse_llama_bench(text("llama-bench-local.json"))
    rpc = bench_report.parse_llama_bench(text("llama-bench-rpc.json"))
    return bench_report.summarize(local, rpc)


def test_parse_reads_llama_bench_fields() -> None:
    rows = bench_report.parse_llama_bench(text("llama-bench-rpc.json"))
    raw = records("llama-bench-rpc.json")
    assert [row.test for row in rows] == ["pp", "tg"]
    assert [row.model for row in rows] == [MODEL, MODEL]
    assert [row.avg_ts for row in rows] == [r["avg_ts"] for r in raw]
    assert [row.samples_ts for row in rows] == [r["samples_ts"] for r in raw]
    assert rows[0].backends == "RPC" and rows[0].n_gpu_layers == 99
    assert rows[0].model_type.startswith("gemma3 270M")


def test_parse_accepts_jsonl() -> None:
    jsonl = "\n".join(json.dumps(r) for r in records("llama-bench-local.json"))
    assert bench_report.parse_llama_bench(jsonl) == bench_report.parse_llama_bench(
        text("llama-bench-local.json")
    )


def test_summary_figures_and_ratios(summary: dict[str, Any]) -> None:
    [entry] = summary["models"]
    local_pp, rpc_pp = (
        avg_ts("llama-bench-local.json", 32, 0),
        avg_ts("llama-bench-rpc.json", 32, 0),
    )
    local_tg, rpc_tg = (
        avg_ts("llama-bench-local.json", 0, 16),
        avg_ts("llama-bench-rpc.json", 0, 16),
    )
    assert entry["model"] == MODEL
    assert (entry["local"]["prefill_tps"], entry["local"]["decode_tps"]) == (
        local_pp,
        local_tg,
    )
    assert (entry["rpc"]["prefill_tps"], entry["rpc"]["decode_tps"]) == (rpc_pp, rpc_tg)
    assert entry["ratio"]["prefill"] == pytest.approx(rpc_pp / local_pp)
    assert entry["ratio"]["decode"] == pytest.approx(rpc_tg / local_tg)
    assert (entry["local"]["n_prompt"], entry["local"]["n_gen"]) == (32, 16)


def test_markdown_tables_and_header(summary: dict[str, Any]) -> None:
    markdown = bench_report.render_markdown(summary, META)
    entry = summary["models"][0]
    assert "| Model | Mode | Prefill tok/s | Decode tok/s |" in markdown
    assert (
        "| {} | local | {:.2f} ± {:.2f} | {:.2f} ± {:.2f} |".format(
            MODEL,
            entry["local"]["prefill_tps"],
            entry["local"]["prefill_stddev"],
            entry["local"]["decode_tps"],
            entry["local"]["decode_stddev"],
        )
        in markdown
    )
    assert (
        "| {} | {:.3f} | {:.3f} |".format(
            MODEL, entry["ratio"]["prefill"], entry["ratio"]["decode"]
        )
        in markdown
    )
    assert "`0c1e57098bba43ac29e6e3b677cdceebdd22334f`" in markdown
    assert (
        "Node `spark` (head): backend CUDA" in markdown
        and "Node `studio` (worker): backend Metal" in markdown
    )
    assert "9.57 Gbit/s a→b, 9.92 Gbit/s b→a, MTU 9000" in markdown
    assert "RTT min/avg/max: 0.031/0.052/0.094 ms" in markdown


def test_markdown_marks_missing_meta(summary: dict[str, Any]) -> None:
    markdown = bench_report.render_markdown(summary, {})
    assert "Commit: `n/a`" in markdown
    assert "RTT min/avg/max: n/a/n/a/n/a ms" in markdown


def test_png_is_written(summary: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "bench.png"
    bench_report.render_png(summary, str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "empty"),
        ("  \n", "empty"),
        ("[]", "no test results"),
        ("{not json", "not JSON"),
        ("[1]", "record 0 is not a JSON object"),
        ('[{"model_filename": "m.gguf"}]', "lacks field"),
        (
            '[{"model_filename": "m", "model_type": "t", "n_prompt": "x", "n_gen": 0, "avg_ts": 1, "stddev_ts": 0}]',
            "malformed",
        ),
    ],
)
def test_parse_rejects_bad_output(payload: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bench_report.parse_llama_bench(payload)


def test_summary_needs_a_tg_test() -> None:
    local = bench_report.parse_llama_bench(text("llama-bench-local.json"))
    rpc = [
        row
        for row in bench_report.parse_llama_bench(text("llama-bench-rpc.json"))
        if row.test != "tg"
    ]
    with pytest.raises(ValueError, match=r"no tg \(decode.*in the rpc output"):
        bench_report.summarize(local, rpc)


def test_summary_needs_same_models_and_one_test_each() -> None:
    local = bench_report.parse_llama_bench(text("llama-bench-local.json"))
    other = [
        dict(r, model_filename="/m/other.gguf") for r in records("llama-bench-rpc.json")
    ]
    with pytest.raises(
        ValueError,
        match=r"only in local: gemma-3-270m-q4_k_m\.gguf; only in rpc: other\.gguf",
    ):
        bench_report.summarize(local, bench_report.parse_llama_bench(json.dumps(other)))
    with pytest.raises(ValueError, match="2 pp"):
        bench_report.summarize(local + local[:1], local)
    with pytest.raises(ValueError, match="both local and rpc"):
        bench_report.summarize(local, [])


def test_importable_without_matplotlib() -> None:
    code = (
        f"import sys; sys.modules['matplotlib'] = None; sys.path.insert(0, {str(Path(bench_report.__file__).parent)!r})\n"
        "import bench_report\n"
        "try:\n    bench_report.render_png({'models': []}, 'x.png')\n"
        "except ImportError:\n    print('lazy')\n"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        == "lazy\n"
    )


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_writes_json_markdown_and_png(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(META))
    prefix = tmp_path / "reports" / "bench-20260101T000000Z"
    done = run_cli(
        "--local",
        str(DATA / "llama-bench-local.json"),
        "--rpc",
        str(DATA / "llama-bench-rpc.json"),
        "--meta",
        str(meta),
        "--out",
        str(prefix),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(Path(str(prefix) + ".json").read_text())
    assert report["meta"] == META
    assert report["summary"]["models"][0]["model"] == MODEL
    assert [row["avg_ts"] for row in report["raw"]["local"]] == [
        r["avg_ts"] for r in records("llama-bench-local.json")
    ]
    assert "| Model | Mode |" in Path(str(prefix) + ".md").read_text()
    assert Path(str(prefix) + ".png").stat().st_size > 1000


def test_cli_reports_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    done = run_cli(
        "--local",
        str(empty),
        "--rpc",
        str(DATA / "llama-bench-rpc.json"),
        "--meta",
        str(empty),
        "--out",
        str(tmp_path / "r"),
    )
    assert done.returncode == 2
    assert "empty.json: llama-bench output is empty" in done.stderr
    assert not list(tmp_path.glob("r.*"))
