#!/usr/bin/env python3
"""Turn llama-bench JSON (local and RPC runs) into a summary, Markdown and a PNG.

Usage: bench_report.py --local local.json --rpc rpc.json --meta meta.json \
           [--out reports/bench-<timestamp>]

The llama_bench role runs this file on the controller from its own files/
directory; the unit tests import it as a module.

Field names follow ``test::get_fields()`` and ``json_printer`` in
tools/llama-bench/llama-bench.cpp (llama.cpp 0c1e570). A prefill (pp) test
has ``n_prompt > 0`` and ``n_gen == 0``; a decode (tg) test has
``n_prompt == 0`` and ``n_gen > 0``.

Standard library only, except render_png, which imports matplotlib lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any

MODES = ("local", "rpc")
REQUIRED_FIELDS = (
    "model_filename",
    "model_type",
    "n_prompt",
    "n_gen",
    "avg_ts",
    "stddev_ts",
)
NA = "n/a"


@dataclass(frozen=True)
class BenchRow:
    """One llama-bench test result."""

    model: str
    model_filename: str
    model_type: str
    n_prompt: int
    n_gen: int
    avg_ts: float
    stddev_ts: float
    samples_ts: list[float] = field(default_factory=list)
    n_depth: int = 0
    backends: str = ""
    n_gpu_layers: int = 0
    build_commit: str = ""

    @property
    def test(self) -> str:
        """ "pp" (prefill), "tg" (decode) or "pg" (both in one test)."""
        if self.n_gen == 0 and self.n_prompt > 0:
            return "pp"
        if self.n_prompt == 0 and self.n_gen > 0:
            return "tg"
        return "pg"

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form, with the derived test kind."""
        return dict(asdict(self), test=self.test)


# --- parsing -----------------------------------------------------------------


def _load_records(json_text: str) -> list[Any]:
    """Decode a JSON array (``-o json``) or one object per line (``-o jsonl``)."""
    text = json_text.strip()
    if not text:
        raise ValueError("llama-bench output is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"llama-bench output is not JSON or JSON lines: {exc}"
            ) from None
    return data if isinstance(data, list) else [data]


def _row(record: Any, index: int) -> BenchRow:
    if not isinstance(record, dict):
        raise ValueError(f"llama-bench record {index} is not a JSON object")  # noqa: TRY004
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise ValueError(
            f"llama-bench record {index} lacks field(s): {', '.join(missing)}"
        )
    try:
        return BenchRow(
            model=PurePath(str(record["model_filename"])).name,
            model_filename=str(record["model_filename"]),
            model_type=str(record["model_type"]),
            n_prompt=int(record["n_prompt"]),
            n_gen=int(record["n_gen"]),
            avg_ts=float(record["avg_ts"]),
            stddev_ts=float(record["stddev_ts"]),
            samples_ts=[float(ts) for ts in record.get("samples_ts", [])],
            n_depth=int(record.get("n_depth", 0)),
            backends=str(record.get("backends", "")),
            n_gpu_layers=int(record.get("n_gpu_layers", 0)),
            build_commit=str(record.get("build_commit", "")),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"llama-bench record {index} has a malformed value: {exc}"
        ) from None


def parse_llama_bench(json_text: str) -> list[BenchRow]:
    """Parse ``llama-bench -o json`` (or jsonl) output; ValueError if empty or invalid."""
    records = _load_records(json_text)
    if not records:
        raise ValueError("llama-bench output holds no test results")
    return [_row(record, index) for index, record in enumerate(records)]


# --- summary -----------------------------------------------------------------


def _single(rows: Sequence[BenchRow], test: str, model: str, mode: str) -> BenchRow:
    found = [row for row in rows if row.model == model and row.test == test]
    label = {
        "pp": "pp (prefill: n_prompt>0, n_gen=0)",
        "tg": "tg (decode: n_prompt=0, n_gen>0)",
    }[test]
    if not found:
        raise ValueError(f"no {label} test for model {model} in the {mode} output")
    if len(found) > 1:
        raise ValueError(
            f"{len(found)} {label} tests for model {model} in the {mode} output; run one size per test"
        )
    return found[0]


def _figures(rows: Sequence[BenchRow], model: str, mode: str) -> dict[str, Any]:
    pp = _single(rows, "pp", model, mode)
    tg = _single(rows, "tg", model, mode)
    return {
        "prefill_tps": pp.avg_ts,
        "prefill_stddev": pp.stddev_ts,
        "n_prompt": pp.n_prompt,
        "decode_tps": tg.avg_ts,
        "decode_stddev": tg.stddev_ts,
        "n_gen": tg.n_gen,
        "backends": pp.backends,
        "n_gpu_layers": pp.n_gpu_layers,
    }


def _ratio(rpc: float, local: float) -> float | None:
    return rpc / local if local > 0 else None


def _models(local_rows: Sequence[BenchRow], rpc_rows: Sequence[BenchRow]) -> list[str]:
    local = list(dict.fromkeys(row.model for row in local_rows))
    rpc = list(dict.fromkeys(row.model for row in rpc_rows))
    only = {
        "local": [m for m in local if m not in rpc],
        "rpc": [m for m in rpc if m not in local],
    }
    if only["local"] or only["rpc"]:
        detail = "; ".join(
            "only in {}: {}".format(mode, ", ".join(models))
            for mode, models in only.items()
            if models
        )
        raise ValueError(f"models differ between the local and rpc runs ({detail})")
    return local


def summarize(
    local_rows: Sequence[BenchRow], rpc_rows: Sequence[BenchRow]
) -> dict[str, Any]:
    """Per model: prefill and decode tok/s for local and rpc, and rpc/local ratios."""
    if not local_rows or not rpc_rows:
        raise ValueError("both local and rpc runs need at least one llama-bench result")
    models = []
    for model in _models(local_rows, rpc_rows):
        local = _figures(local_rows, model, "local")
        rpc = _figures(rpc_rows, model, "rpc")
        ratio = {
            "prefill": _ratio(rpc["prefill_tps"], local["prefill_tps"]),
            "decode": _ratio(rpc["decode_tps"], local["decode_tps"]),
        }
        models.append({"model": model, "local": local, "rpc": rpc, "ratio": ratio})
    return {"models": models}


# --- Markdown ------------------------------------------------------------------


def _lookup(meta: Mapping[str, Any], *path: str) -> Any:
    value: Any = meta
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            return NA
        value = value[key]
    return value


def _number(value: Any, digits: int = 2) -> str:
    return NA if value is None or value == NA else f"{float(value):.{digits}f}"


def _header(meta: Mapping[str, Any]) -> list[str]:
    lines = [
        "# llama.cpp RPC benchmark",
        "",
        "- Commit: `{}`".format(_lookup(meta, "commit")),
    ]
    for node in meta.get("nodes") or []:
        role = " ({})".format(node["role"]) if node.get("role") else ""
        lines.append(
            "- Node `{}`{}: backend {}".format(
                node.get("name", NA), role, node.get("backend", NA)
            )
        )
    gbps = [_number(_lookup(meta, "link", "gbps", key)) for key in ("a_to_b", "b_to_a")]
    rtt = [
        _number(_lookup(meta, "link", "rtt_ms", key), 3)
        for key in ("min", "avg", "max")
    ]
    lines.append(
        "- Link: {} Gbit/s a→b, {} Gbit/s b→a, MTU {}".format(
            gbps[0], gbps[1], _lookup(meta, "link", "mtu")
        )
    )
    lines.append("- RTT min/avg/max: {} ms".format("/".join(rtt)))
    return lines


def _figure_cell(tps: float, stddev: float) -> str:
    return f"{tps:.2f} ± {stddev:.2f}"


def _speed_table(summary: Mapping[str, Any]) -> list[str]:
    lines = ["| Model | Mode | Prefill tok/s | Decode tok/s |", "|---|---|---:|---:|"]
    for entry in summary["models"]:
        for mode in MODES:
            fig = entry[mode]
            lines.append(
                "| {} | {} | {} | {} |".format(
                    entry["model"],
                    mode,
                    _figure_cell(fig["prefill_tps"], fig["prefill_stddev"]),
                    _figure_cell(fig["decode_tps"], fig["decode_stddev"]),
                )
            )
    return lines


def _ratio_table(summary: Mapping[str, Any]) -> list[str]:
    lines = ["| Model | Prefill rpc/local | Decode rpc/local |", "|---|---:|---:|"]
    for entry in summary["models"]:
        ratio = entry["ratio"]
        lines.append(
            "| {} | {} | {} |".format(
                entry["model"],
                _number(ratio["prefill"], 3),
                _number(ratio["decode"], 3),
            )
        )
    return lines


def render_markdown(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """Header block from meta, a speed table and an rpc/local ratio table.

    meta: ``{"commit": str, "nodes": [{"name", "role", "backend"}],
    "link": {"gbps": {"a_to_b", "b_to_a"}, "mtu": int,
    "rtt_ms": {"min", "avg", "max"}}}``; absent values render as n/a.
    """
    note = "Mean ± standard deviation over llama-bench repetitions."
    lines = _header(meta) + ["", "## Throughput", "", note, ""] + _speed_table(summary)
    lines += ["", "## RPC / local", ""] + _ratio_table(summary)
    return "\n".join(lines) + "\n"


# --- PNG -------------------------------------------------------------------------


def render_png(summary: Mapping[str, Any], path: str) -> None:
    """Grouped bar chart, local vs rpc, one panel each for prefill and decode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [entry["model"] for entry in summary["models"]]
    positions = list(range(len(models)))
    width = 0.38
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 3.0 * len(models) + 4.0), 4.5))
    for axis, (key, title) in zip(axes, (("prefill", "Prefill"), ("decode", "Decode"))):
        peak = 0.0
        for offset, mode in ((-width / 2, "local"), (width / 2, "rpc")):
            values = [entry[mode][key + "_tps"] for entry in summary["models"]]
            errors = [entry[mode][key + "_stddev"] for entry in summary["models"]]
            axis.bar(
                [x + offset for x in positions],
                values,
                width,
                yerr=errors,
                capsize=4,
                label=mode,
            )
            peak = max([peak] + values)
        axis.set_ylim(0, peak * 1.3 or 1.0)
        axis.set_title(f"{title} tok/s")
        axis.set_xticks(positions)
        axis.set_xticklabels(models, rotation=15, ha="right", fontsize=8)
        axis.set_ylabel("tokens/s")
        axis.legend()
    fig.suptitle("llama.cpp: local vs RPC")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


# --- command line ----------------------------------------------------------------


def default_prefix() -> str:
    """reports/bench-<UTC timestamp>, relative to the working directory."""
    return "reports/bench-{}".format(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--local", required=True, type=Path, help="llama-bench -o json of the local run"
    )
    parser.add_argument(
        "--rpc", required=True, type=Path, help="llama-bench -o json of the RPC run"
    )
    parser.add_argument(
        "--meta", required=True, type=Path, help="JSON: commit, nodes, link figures"
    )
    parser.add_argument(
        "--out", default=None, help="output prefix; .json, .md and .png are added"
    )
    return parser.parse_args(argv)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None


def load_rows(path: Path) -> list[BenchRow]:
    try:
        return parse_llama_bench(read_text(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(read_text(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object")  # noqa: TRY004
    return meta


def build_report(
    local: list[BenchRow],
    rpc: list[BenchRow],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Return meta, the local/rpc summary and every parsed row."""
    return {
        "meta": meta,
        "summary": summarize(local, rpc),
        "raw": {
            "local": [row.as_dict() for row in local],
            "rpc": [row.as_dict() for row in rpc],
        },
    }


def output(prefix: str, extension: str) -> Path:
    return Path(prefix + extension)


def write_report(report: dict[str, Any], prefix: str) -> None:
    """Write <prefix>.json, <prefix>.md and <prefix>.png."""
    output(prefix, ".json").parent.mkdir(parents=True, exist_ok=True)
    output(prefix, ".json").write_text(
        json.dumps(report, indent=2) + "\n", encoding="utf-8"
    )
    markdown = render_markdown(report["summary"], report["meta"])
    output(prefix, ".md").write_text(markdown, encoding="utf-8")
    render_png(report["summary"], str(output(prefix, ".png")))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prefix = args.out or default_prefix()
    try:
        report = build_report(
            load_rows(args.local), load_rows(args.rpc), load_meta(args.meta)
        )
    except ValueError as exc:
        print(f"bench_report: {exc}", file=sys.stderr)
        return 2
    write_report(report, prefix)
    print(output(prefix, ".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
