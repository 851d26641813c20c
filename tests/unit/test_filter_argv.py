"""What the service roles refuse in extra arguments, unit lines and environments."""

from __future__ import annotations

import pytest
from plugin_loader import load

argv = load("filter", "argv")

RPC_OWNED = ["--host", "-H", "--port", "-p"]


@pytest.mark.parametrize(
    ("args", "found"),
    [
        ([], []),
        (["--mem", "4096"], []),
        (["--host", "0.0.0.0"], ["--host"]),
        (["-H", "0.0.0.0", "--port=1", "-p", "2"], ["-H", "--port", "-p"]),
        (["--host=0.0.0.0", "--host", "x"], ["--host"]),
        (["--hostname", "x"], []),
    ],
)
def test_owned_flags_finds_repeated_flags_in_both_forms(args: list[str], found: list[str]) -> None:
    assert argv.owned_flags(args, RPC_OWNED) == found


def test_a_key_on_the_command_line_is_found() -> None:
    assert argv.owned_flags(["--alias", "g", "--api-key=s3cret"], ["--api-key", "--api-key-file"]) == ["--api-key"]


@pytest.mark.parametrize("bad", ["a\nExecStartPre=/bin/sh", "tab\there", "bell\x07", "del\x7f", "cr\r"])
def test_unsafe_values_finds_control_characters_in_values(bad: str) -> None:
    assert argv.unsafe_values({"OK": "fine", "BAD": bad}) == ["BAD"]
    assert argv.unsafe_values(["/bin/x", bad], prefix="argv") == ["argv[1]"]


def test_unsafe_values_checks_keys_without_leaking_values() -> None:
    found = argv.unsafe_values({"KEY\nX": "s3cret"})
    assert found == ["KEY\\nX"]
    assert "s3cret" not in found[0]


def test_plain_values_are_safe() -> None:
    assert argv.unsafe_values({"LLAMA_CACHE": "/var/cache/x", "N": 3}) == []
    assert argv.unsafe_values(["--host", "192.168.100.2", "ünïcode"]) == []
