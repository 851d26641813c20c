#!/usr/bin/env python3
"""Write a local-vs-RPC benchmark report (.json, .md, .png) from llama-bench JSON.

Usage: bench_report.py --local local.json --rpc rpc.json --meta meta.json \
           [--out reports/bench-<timestamp>]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Put the library first: this script shares its name with plugins/module_utils/bench_report.py.
LIBRARY = Path(__file__).resolve().parents[1] / "plugins" / "module_utils"
sys.path.insert(0, str(LIBRARY))

import bench_report


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


def load_rows(path: Path) -> list[bench_report.BenchRow]:
    try:
        return bench_report.parse_llama_bench(read_text(path))
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
    local: list[bench_report.BenchRow],
    rpc: list[bench_report.BenchRow],
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Return meta, the local/rpc summary and every parsed row."""
    return {
        "meta": meta,
        "summary": bench_report.summarize(local, rpc),
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
    markdown = bench_report.render_markdown(report["summary"], report["meta"])
    output(prefix, ".md").write_text(markdown, encoding="utf-8")
    bench_report.render_png(report["summary"], str(output(prefix, ".png")))


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
