"""Read-only probe of a llama.cpp RPC server (ggml-rpc-server).

Wire format, from ggml/src/ggml-rpc/ggml-rpc.cpp (llama.cpp 0c1e570):
request ``cmd:u8 | size:u64 | payload``, response ``size:u64 | payload``,
little-endian. HELLO (14) must come first. Protocol >= 4 sends 24 zero
``conn_caps`` bytes and gets ``major, minor, patch, pad, caps[24]`` back;
older servers take an empty payload and answer 3 bytes. Protocol >= 3 has
DEVICE_COUNT (15) and a per-device GET_DEVICE_MEMORY (11); older servers
have one device and take an empty GET_DEVICE_MEMORY request.

Standard library only, so unit tests can import it without Ansible.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

CMD_GET_DEVICE_MEMORY = 11
CMD_HELLO = 14
CMD_DEVICE_COUNT = 15
CONN_CAPS_SIZE = 24
CAPS_HELLO_MIN_MAJOR = 4  # first protocol whose HELLO carries conn_caps
MULTI_DEVICE_MIN_MAJOR = 3

_U64 = struct.Struct("<Q")
_CMD_HEADER = struct.Struct("<BQ")
_HELLO_CAPS_REPLY = struct.Struct(f"<BBBB{CONN_CAPS_SIZE}s")
_HELLO_LEGACY_REPLY = struct.Struct("<BBB")
_DEVICE_COUNT_REPLY = struct.Struct("<I")
_DEVICE_REQUEST = struct.Struct("<I")
_MEMORY_REPLY = struct.Struct("<QQ")
_LINGER_ABORT = struct.pack("ii", 1, 0)

BUSY_HINT = "the server serves one client at a time; is another client (llama-server) connected?"


class RpcProbeError(Exception):
    """Base class for every probe failure."""


class RpcConnectError(RpcProbeError):
    """The TCP connection could not be opened."""


class RpcTimeoutError(RpcProbeError):
    """The server did not answer before the deadline."""


class RpcProtocolError(RpcProbeError):
    """The server answered something this probe does not understand."""


class _ClosedEarly(RpcProtocolError):
    """The server closed the connection or sent a reply of the wrong size."""


@dataclass(frozen=True)
class DeviceMemory:
    """Free and total memory of one device behind the RPC server."""

    index: int
    free_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class ProbeResult:
    """What one probe learned: protocol version, HELLO layout and devices."""

    protocol: str
    hello_layout: str
    devices: list[DeviceMemory]

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as the Ansible module returns it."""
        return asdict(self)


class _Connection:
    """One TCP connection that shares a deadline across all its I/O."""

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.endpoint = f"{host}:{port}"
        self._deadline = deadline
        try:
            self._sock = socket.create_connection(
                (host, port), timeout=self._remaining("connect")
            )
        except socket.timeout:  # noqa: UP041 - not yet TimeoutError on Python < 3.10
            raise RpcTimeoutError(f"{self.endpoint}: connect timed out") from None
        except OSError as exc:
            raise RpcConnectError(
                f"{self.endpoint}: cannot connect: {_reason(exc)}"
            ) from None

    def close(self) -> None:
        """Close normally; the server sees EOF while waiting for a command."""
        self._sock.close()

    def abort(self) -> None:
        """Close with RST so a HELLO still queued at the server gets no reply.

        ggml-rpc-server writes without MSG_NOSIGNAL: a reply to a client that
        closed normally (FIN) raises SIGPIPE and kills it (transport.cpp:552).
        """
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        self._sock.close()

    def _remaining(self, what: str) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RpcTimeoutError(
                f"{self.endpoint}: timed out before {what} ({BUSY_HINT})"
            )
        return left

    def command(self, cmd: int, payload: bytes, reply_size: int, name: str) -> bytes:
        """Send one command and return its fixed-size reply payload."""
        self._io(
            name, self._sock.sendall, _CMD_HEADER.pack(cmd, len(payload)) + payload
        )
        (size,) = _U64.unpack(self._recv_exact(_U64.size, name))
        if size != reply_size:
            raise _ClosedEarly(
                f"{self.endpoint}: {name} reply is {size} bytes, expected {reply_size}"
            )
        return self._recv_exact(reply_size, name)

    def _recv_exact(self, size: int, name: str) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._io(name, self._sock.recv, size - len(data))
            if not chunk:
                raise _ClosedEarly(f"{self.endpoint}: connection closed during {name}")
            data += chunk
        return data

    def _io(self, name: str, operation: Callable[[_T], _R], argument: _T) -> _R:
        self._sock.settimeout(self._remaining(name))
        try:
            return operation(argument)
        except socket.timeout:  # noqa: UP041 - not yet TimeoutError on Python < 3.10
            raise RpcTimeoutError(
                f"{self.endpoint}: no reply to {name} in time ({BUSY_HINT})"
            ) from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise _ClosedEarly(
                f"{self.endpoint}: connection closed during {name}: {_reason(exc)}"
            ) from None
        except OSError as exc:
            raise RpcConnectError(
                f"{self.endpoint}: {name} failed: {_reason(exc)}"
            ) from None


@contextlib.contextmanager
def _connect(host: str, port: int, deadline: float) -> Iterator[_Connection]:
    """Yield a connection; abort it (RST) if the body raises."""
    conn = _Connection(host, port, deadline)
    try:
        yield conn
    except BaseException:
        conn.abort()
        raise
    conn.close()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _version(major: int, minor: int, patch: int) -> str:
    return f"{major}.{minor}.{patch}"


def _hello_caps(conn: _Connection) -> str:
    reply = conn.command(
        CMD_HELLO, bytes(CONN_CAPS_SIZE), _HELLO_CAPS_REPLY.size, "HELLO"
    )
    major, minor, patch, _pad, _caps = _HELLO_CAPS_REPLY.unpack(reply)
    return _version(major, minor, patch)


def _hello_legacy(conn: _Connection) -> str:
    reply = conn.command(
        CMD_HELLO, b"", _HELLO_LEGACY_REPLY.size, "HELLO (protocol < 4)"
    )
    return _version(*_HELLO_LEGACY_REPLY.unpack(reply))


def _major(protocol: str) -> int:
    return int(protocol.split(".", 1)[0])


def _devices(conn: _Connection, major: int) -> list[DeviceMemory]:
    if major < MULTI_DEVICE_MIN_MAJOR:
        return [_memory(conn, 0, b"")]
    (count,) = _DEVICE_COUNT_REPLY.unpack(
        conn.command(CMD_DEVICE_COUNT, b"", _DEVICE_COUNT_REPLY.size, "DEVICE_COUNT")
    )
    return [_memory(conn, index, _DEVICE_REQUEST.pack(index)) for index in range(count)]


def _memory(conn: _Connection, index: int, request: bytes) -> DeviceMemory:
    reply = conn.command(
        CMD_GET_DEVICE_MEMORY,
        request,
        _MEMORY_REPLY.size,
        f"GET_DEVICE_MEMORY({index})",
    )
    free, total = _MEMORY_REPLY.unpack(reply)
    return DeviceMemory(index=index, free_bytes=free, total_bytes=total)


def probe(host: str, port: int, timeout: float = 5.0) -> ProbeResult:
    """HELLO the server, then read its device count and memory.

    ``timeout`` bounds the whole probe, including the fallback to the
    pre-4 HELLO layout. Raises an RpcProbeError subclass on failure.
    """
    deadline = time.monotonic() + timeout
    try:
        with _connect(host, port, deadline) as conn:
            protocol = _hello_caps(conn)
            return ProbeResult(protocol, "caps", _devices(conn, _major(protocol)))
    except _ClosedEarly:
        pass  # a server older than protocol 4 drops a HELLO that carries conn_caps
    with _connect(host, port, deadline) as conn:
        try:
            protocol = _hello_legacy(conn)
        except _ClosedEarly as exc:
            raise RpcProtocolError(
                f"{conn.endpoint}: no HELLO reply in either layout (not a llama.cpp RPC server?): {exc}"
            ) from None
        return ProbeResult(protocol, "legacy", _devices(conn, _major(protocol)))


_DEFINE = re.compile(
    r"^\s*#\s*define\s+RPC_PROTO_(MAJOR|MINOR|PATCH)_VERSION\s+(\d+)", re.MULTILINE
)


def parse_header_version(text: str, name: str = "ggml-rpc.h", unversioned: str | None = None) -> str:
    """Return "M.m.p" from the RPC_PROTO_*_VERSION defines in header text.

    ``name`` names the header in errors. A header with none of the three
    defines (a commit from before the protocol had a version) returns
    ``unversioned`` when it is given; a header with only some of them is
    always an error.
    """
    found = {part: int(value) for part, value in _DEFINE.findall(text)}
    if not found and unversioned is not None:
        return unversioned
    missing = [part for part in ("MAJOR", "MINOR", "PATCH") if part not in found]
    if missing:
        raise ValueError(
            "{} has no RPC_PROTO_{}_VERSION define".format(name, "/".join(missing))
        )
    return _version(found["MAJOR"], found["MINOR"], found["PATCH"])


def read_header_version(path: str) -> str:
    """Return "M.m.p" from the ggml-rpc.h at ``path``."""
    with open(path, encoding="utf-8") as header:
        return parse_header_version(header.read(), name=path)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``rpc_probe.py HOST PORT [--timeout S]`` prints the result as JSON."""
    parser = argparse.ArgumentParser(
        description="Probe a llama.cpp RPC server (HELLO, devices, memory)."
    )
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds for the whole probe (default 5)",
    )
    args = parser.parse_args(argv)
    try:
        result = probe(args.host, args.port, args.timeout)
    except RpcProbeError as exc:
        print(f"rpc_probe: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
