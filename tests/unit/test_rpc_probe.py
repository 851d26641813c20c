"""rpc_probe against a real ggml-rpc-server, plus a fake pre-4 server for the old layouts."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rpc_probe

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER = REPO_ROOT / "build" / "host" / "bin" / "ggml-rpc-server"
HEADER_IN_TREE = Path("ggml") / "include" / "ggml-rpc.h"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> Path:
    path = Path(os.environ.get("LLAMA_RPC_SERVER", str(DEFAULT_SERVER)))
    if not os.access(path, os.X_OK):
        pytest.skip(
            f"no ggml-rpc-server at {path} (set LLAMA_RPC_SERVER or run scripts/build-host-tools.sh)"
        )
    return path


def source_tree(binary: Path) -> Path | None:
    """The llama.cpp tree the binary was built from: $LLAMA_SRC or its CMakeCache.txt."""
    if os.environ.get("LLAMA_SRC"):
        return Path(os.environ["LLAMA_SRC"])
    cache = binary.resolve().parent.parent / "CMakeCache.txt"
    if not cache.is_file():
        return None
    match = re.search(
        r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.+)$", cache.read_text(), re.MULTILINE
    )
    return Path(match.group(1)) if match else None


def wait_until_listening(
    port: int, proc: subprocess.Popen, log: Path, limit: float = 30.0
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"ggml-rpc-server exited with {proc.returncode}:\n{log.read_text()}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"ggml-rpc-server did not listen on {port} within {limit:.0f}s")


class RealServer:
    def __init__(self, binary: Path, port: int) -> None:
        self.binary = binary
        self.port = port


@pytest.fixture(scope="session")
def rpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    binary = server_binary()
    port = free_port()
    log = tmp_path_factory.mktemp("rpc") / "ggml-rpc-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port), "-t", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, proc, log)
        yield RealServer(binary, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def held_connection(port: int) -> socket.socket:
    """A client that completed HELLO and keeps the single server slot busy."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(
        struct.pack("<BQ", rpc_probe.CMD_HELLO, rpc_probe.CONN_CAPS_SIZE)
        + bytes(rpc_probe.CONN_CAPS_SIZE)
    )
    size = struct.unpack("<Q", sock.recv(8, socket.MSG_WAITALL))[0]
    assert len(sock.recv(size, socket.MSG_WAITALL)) == size
    return sock


def test_hello_reports_protocol_of_built_tree(rpc_server: RealServer) -> None:
    tree = source_tree(rpc_server.binary)
    if tree is None or not (tree / HEADER_IN_TREE).is_file():
        pytest.skip(
            f"cannot locate ggml-rpc.h of the tree {rpc_server.binary} was built from (set LLAMA_SRC)"
        )
    expected = rpc_probe.read_header_version(str(tree / HEADER_IN_TREE))
    result = rpc_probe.probe("127.0.0.1", rpc_server.port, timeout=5)
    assert result.protocol == expected
    assert result.hello_layout == (
        "caps"
        if int(expected.split(".")[0]) >= rpc_probe.CAPS_HELLO_MIN_MAJOR
        else "legacy"
    )


def test_devices_report_memory(rpc_server: RealServer) -> None:
    devices = rpc_probe.probe("127.0.0.1", rpc_server.port, timeout=5).devices
    assert [d.index for d in devices] == list(range(len(devices)))
    assert len(devices) >= 1
    for device in devices:
        assert device.total_bytes >= device.free_bytes > 0


def test_busy_server_times_out_and_survives(rpc_server: RealServer) -> None:
    holder = held_connection(rpc_server.port)
    started = time.monotonic()
    try:
        with pytest.raises(rpc_probe.RpcTimeoutError) as info:
            rpc_probe.probe("127.0.0.1", rpc_server.port, timeout=1.0)
    finally:
        elapsed = time.monotonic() - started
        holder.close()
    assert 0.9 <= elapsed < 2.0
    assert f"127.0.0.1:{rpc_server.port}" in str(info.value)
    assert "one client at a time" in str(info.value)
    # The aborted probe is still queued at the server; it must not kill it (SIGPIPE).
    assert rpc_probe.probe("127.0.0.1", rpc_server.port, timeout=5).devices


def test_closed_port_is_a_connect_error() -> None:
    port = free_port()
    with pytest.raises(
        rpc_probe.RpcConnectError,
        match=rf"127\.0\.0\.1:{port}: cannot connect: .*refused",
    ):
        rpc_probe.probe("127.0.0.1", port, timeout=2)


# --- fake servers for protocols before 4 ----------------------------------


def recv_exact(conn: socket.socket, size: int) -> bytes:
    data = conn.recv(size, socket.MSG_WAITALL) if size else b""
    if len(data) != size:
        raise ConnectionError("short read")
    return data


def read_command(conn: socket.socket) -> tuple:
    cmd, size = struct.unpack("<BQ", recv_exact(conn, 9))
    return cmd, recv_exact(conn, size)


def reply(conn: socket.socket, payload: bytes) -> None:
    conn.sendall(struct.pack("<Q", len(payload)) + payload)


def legacy_session(
    version: tuple, memory: list[tuple]
) -> Callable[[socket.socket], None]:
    """Serve one connection like a pre-4 server: HELLO with an empty payload only."""
    multi_device = version[0] >= rpc_probe.MULTI_DEVICE_MIN_MAJOR

    def serve(conn: socket.socket) -> None:
        cmd, payload = read_command(conn)
        if cmd != rpc_probe.CMD_HELLO or payload:
            return  # like recv_msg(sock, nullptr, 0) failing: drop the client
        reply(conn, bytes(version))
        while True:
            cmd, payload = read_command(conn)
            if cmd == rpc_probe.CMD_DEVICE_COUNT and multi_device and not payload:
                reply(conn, struct.pack("<I", len(memory)))
            elif (
                cmd == rpc_probe.CMD_GET_DEVICE_MEMORY
                and multi_device
                and len(payload) == 4
            ):
                reply(
                    conn, struct.pack("<QQ", *memory[struct.unpack("<I", payload)[0]])
                )
            elif (
                cmd == rpc_probe.CMD_GET_DEVICE_MEMORY
                and not multi_device
                and not payload
            ):
                reply(conn, struct.pack("<QQ", *memory[0]))
            else:
                return

    return serve


@pytest.fixture
def fake_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    listeners: list[socket.socket] = []

    def start(session: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    try:
                        session(conn)
                    except (ConnectionError, struct.error):
                        pass

        threading.Thread(target=loop, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize(
    ("version", "memory"),
    [((3, 6, 1), [(700, 1000), (50, 2000)]), ((2, 0, 0), [(123, 456)])],
    ids=["protocol-3-multi-device", "protocol-2-single-device"],
)
def test_legacy_layout_fallback(
    fake_server, version: tuple, memory: list[tuple]
) -> None:
    port = fake_server(legacy_session(version, memory))
    result = rpc_probe.probe("127.0.0.1", port, timeout=3)
    assert result.protocol == "{}.{}.{}".format(*version)
    assert result.hello_layout == "legacy"
    assert [(d.index, d.free_bytes, d.total_bytes) for d in result.devices] == [
        (i, free, total) for i, (free, total) in enumerate(memory)
    ]


def test_server_that_never_says_hello(fake_server) -> None:
    port = fake_server(lambda conn: None)
    with pytest.raises(
        rpc_probe.RpcProtocolError, match="no HELLO reply in either layout"
    ):
        rpc_probe.probe("127.0.0.1", port, timeout=3)


def test_header_version_needs_all_three_defines(tmp_path: Path) -> None:
    header = tmp_path / "ggml-rpc.h"
    header.write_text(
        "#define RPC_PROTO_MAJOR_VERSION    3\n#  define RPC_PROTO_MINOR_VERSION 6\n#define RPC_PROTO_PATCH_VERSION 1\n"
    )
    assert rpc_probe.read_header_version(str(header)) == "3.6.1"
    header.write_text(
        "#define RPC_PROTO_MAJOR_VERSION    3\n#define RPC_PROTO_MINOR_VERSION 6\n"
    )
    with pytest.raises(ValueError, match=rf"^{re.escape(str(header))} has no RPC_PROTO_PATCH_VERSION define$"):
        rpc_probe.read_header_version(str(header))


def test_header_without_defines() -> None:
    text = '#pragma once\n#include "ggml-backend.h"\n'
    with pytest.raises(ValueError, match="^ggml-rpc.h has no RPC_PROTO_MAJOR/MINOR/PATCH_VERSION define$"):
        rpc_probe.parse_header_version(text)
    assert rpc_probe.parse_header_version(text, unversioned="unversioned") == "unversioned"
    # A partial version is an error even where an unversioned header is accepted.
    with pytest.raises(ValueError, match="MINOR/PATCH"):
        rpc_probe.parse_header_version("#define RPC_PROTO_MAJOR_VERSION 7\n", unversioned="unversioned")


def test_cli_prints_json(rpc_server: RealServer, capsys: pytest.CaptureFixture) -> None:
    assert rpc_probe.main(["127.0.0.1", str(rpc_server.port), "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert '"protocol"' in out and '"free_bytes"' in out
