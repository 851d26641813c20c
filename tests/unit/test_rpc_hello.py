"""Argument handling and failure messages of the rpc_hello Ansible module."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import rpc_probe

pytest.importorskip("ansible")
from ansible.module_utils.testing import patch_module_args

MODULE_PATH = (
    Path(__file__).resolve().parents[2] / "plugins" / "modules" / "rpc_hello.py"
)


@pytest.fixture(scope="module")
def rpc_hello() -> ModuleType:
    # ansible.cfg maps module_utils to plugins/module_utils; mirror that here.
    sys.modules.setdefault("ansible.module_utils.rpc_probe", rpc_probe)
    spec = importlib.util.spec_from_file_location("rpc_hello", MODULE_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(
    module: ModuleType, args: dict[str, Any], capsys: pytest.CaptureFixture
) -> dict[str, Any]:
    with patch_module_args(args), pytest.raises(SystemExit):
        module.run_module()
    return json.loads(capsys.readouterr().out)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_out_of_range_fails(
    rpc_hello: ModuleType, capsys: pytest.CaptureFixture
) -> None:
    result = run(rpc_hello, {"host": "127.0.0.1", "port": 70000}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "port must be within 1-65535, got 70000"


def test_connect_error_names_endpoint(
    rpc_hello: ModuleType, capsys: pytest.CaptureFixture
) -> None:
    port = closed_port()
    result = run(
        rpc_hello,
        {"host": "127.0.0.1", "port": port, "timeout": 2, "_ansible_check_mode": True},
        capsys,
    )
    assert result["failed"] is True and result["changed"] is False
    assert f"127.0.0.1:{port}" in result["msg"]
    assert "refused" in result["msg"]


def test_protocol_mismatch_message(rpc_hello: ModuleType) -> None:
    assert rpc_hello.mismatch_message("h:1", "7.0.0", "7.0.0") == ""
    assert (
        rpc_hello.mismatch_message("h:1", "7.0.0", "6.1.0")
        == "RPC server h:1 reports protocol 7.0.0, expected 6.1.0"
    )


def test_validate_params_rejects_non_positive_timeout(rpc_hello: ModuleType) -> None:
    assert (
        rpc_hello.validate_params({"port": 1, "timeout": 0.0})
        == "timeout must be greater than 0, got 0.0"
    )
    assert rpc_hello.validate_params({"port": 65535, "timeout": 0.5}) == ""
