"""The gguf_info Ansible module: result, check mode and failure messages."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import gguf_model
import pytest

pytest.importorskip("ansible")
pytest.importorskip("gguf", reason="the gguf package writes the test files (requirements.txt)")
from gguf_fixtures import Shape, write_model
from module_runner import load_module
from module_runner import run_module as run


@pytest.fixture(scope="module")
def gguf_info() -> ModuleType:
    return load_module("gguf_info", gguf_model)


def test_reports_the_model_in_check_mode(gguf_info: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    parts = write_model(tmp_path / "m.gguf", Shape(n_layer=3), split_max_tensors=16)
    result = run(gguf_info, {"path": str(parts[-1]), "_ansible_check_mode": True}, capsys)
    assert result.get("failed", False) is False and result["changed"] is False
    assert (result["architecture"], result["block_count"], result["split_count"]) == ("llama", 3, 2)
    assert result["tensor_bytes"] == gguf_model.read_model(str(parts[0]))["tensor_bytes"]
    assert len(result["layer_bytes"]) == 3


def test_non_gguf_fails_with_the_reason(gguf_info: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("<html>404 Not Found</html>\n", encoding="ascii")
    result = run(gguf_info, {"path": str(path)}, capsys)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == f"{path}: not a GGUF file (magic b'<htm', expected b'GGUF')"


def test_missing_file_fails(gguf_info: ModuleType, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    result = run(gguf_info, {"path": str(tmp_path / "absent.gguf")}, capsys)
    assert result["failed"] is True
    assert result["msg"] == f"{tmp_path / 'absent.gguf'}: No such file or directory"
