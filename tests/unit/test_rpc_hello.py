"""Argument handling and failure messages of the rpc_hello Ansible module."""

from __future__ import annotations

import importlib.util
import json
import socket
import struct
import sys
import threading
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


def caps_server(version: tuple[int, int, int], memory: tuple[int, int]) -> socket.socket:
    """A one-device protocol >= 4 server that answers one client, in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))

    def command(conn: socket.socket) -> tuple[int, bytes]:
        cmd, size = struct.unpack("<BQ", conn.recv(9, socket.MSG_WAITALL))
        return cmd, conn.recv(size, socket.MSG_WAITALL) if size else b""

    def reply(conn: socket.socket, payload: bytes) -> None:
        conn.sendall(struct.pack("<Q", len(payload)) + payload)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            assert command(conn) == (rpc_probe.CMD_HELLO, bytes(rpc_probe.CONN_CAPS_SIZE))
            reply(conn, bytes([*version, 0]) + bytes(rpc_probe.CONN_CAPS_SIZE))
            assert command(conn) == (rpc_probe.CMD_DEVICE_COUNT, b"")
            reply(conn, struct.pack("<I", 1))
            assert command(conn) == (rpc_probe.CMD_GET_DEVICE_MEMORY, struct.pack("<I", 0))
            reply(conn, struct.pack("<QQ", *memory))
            conn.recv(1)  # the probe's EOF

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_reports_protocol_and_devices(
    rpc_hello: ModuleType, capsys: pytest.CaptureFixture
) -> None:
    with caps_server((7, 1, 2), (300, 1000)) as listener:
        port = int(listener.getsockname()[1])
        result = run(rpc_hello, {"host": "127.0.0.1", "port": port, "timeout": 5}, capsys)
    assert result.get("failed", False) is False and result["changed"] is False
    assert (result["protocol"], result["hello_layout"], result["endpoint"]) == (
        "7.1.2",
        "caps",
        f"127.0.0.1:{port}",
    )
    assert result["devices"] == [{"index": 0, "free_bytes": 300, "total_bytes": 1000}]


def test_expected_protocol_is_not_an_option(
    rpc_hello: ModuleType, capsys: pytest.CaptureFixture
) -> None:
    # The comparison with the build lives in cluster_check, against the stamp.
    result = run(
        rpc_hello,
        {"host": "127.0.0.1", "port": closed_port(), "expected_protocol": "7.0.0"},
        capsys,
    )
    assert result["failed"] is True
    assert "Unsupported parameters" in result["msg"] and "expected_protocol" in result["msg"]


def test_validate_params_rejects_non_positive_timeout(rpc_hello: ModuleType) -> None:
    assert (
        rpc_hello.validate_params({"port": 1, "timeout": 0.0})
        == "timeout must be greater than 0, got 0.0"
    )
    assert rpc_hello.validate_params({"port": 65535, "timeout": 0.5}) == ""
