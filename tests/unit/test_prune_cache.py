"""roles/rpc_server/files/prune-cache: the RPC tensor cache kept under its size, least recently used first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRUNE = ROOT / "roles" / "rpc_server" / "files" / "prune-cache"
MIB = 1024 * 1024


def _tensor(folder: Path, name: str, mib: int, used: float) -> Path:
    path = folder / "rpc" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(mib * MIB)
    os.utime(path, (used, used))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PRUNE), *args], capture_output=True, text=True, check=False)


def test_the_least_recently_used_go_until_the_cache_fits(tmp_path: Path) -> None:
    old = _tensor(tmp_path, "0123456789abcdef", 3, 1_000)
    middle = _tensor(tmp_path, "1123456789abcdef", 3, 2_000)
    new = _tensor(tmp_path, "2123456789abcdef", 3, 3_000)
    result = _run(str(tmp_path), "6")
    assert result.returncode == 0, result.stderr
    assert (old.exists(), middle.exists(), new.exists()) == (False, True, True)
    assert result.stdout.strip() == f"prune-cache: {tmp_path}: 1 file(s) removed, 6 MiB kept (at most 6 MiB)"


def test_a_cache_that_fits_and_a_missing_one_are_left_alone(tmp_path: Path) -> None:
    kept = _tensor(tmp_path, "0123456789abcdef", 2, 1_000)
    assert _run(str(tmp_path), "6").returncode == 0 and kept.exists()
    assert "0 file(s) removed, 0 MiB kept" in _run(str(tmp_path / "none"), "6").stdout


def test_a_bad_limit_is_refused(tmp_path: Path) -> None:
    assert _run(str(tmp_path), "lots").returncode == 2
