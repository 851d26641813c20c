"""The build stage after converge: releases, the current link, stamps, binaries.

Against the lab without molecule:
  MOLECULE_INVENTORY_FILE=inventory/lab/hosts.yml MOLECULE_EPHEMERAL_DIRECTORY=$PWD \
    pytest molecule/cluster/tests/test_build.py
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import labhosts

HEADS = labhosts.group("llama_heads")
WORKERS = labhosts.group("llama_workers")
HOSTS = sorted(set(HEADS) | set(WORKERS))
RELEASE = re.compile(r"^[0-9a-f]{12}-(cpu|cuda|metal|vulkan)-[0-9a-f]{10}$")
# The tools each role group needs, and how their binary is asked about itself:
# the RPC server has no --version (an unknown flag prints usage), the others do.
TOOLS = {"llama_workers": {"rpc_server"}, "llama_heads": {"llama_server", "llama_bench"}}
PROBE = {"rpc_server": "--help", "llama_server": "--version", "llama_bench": "--version"}
BINARIES = [(w, tool) for w in WORKERS for tool in sorted(TOOLS["llama_workers"])] + [
    (h, tool) for h in HEADS for tool in sorted(TOOLS["llama_heads"])
]


def _install_dir(name: str) -> str:
    return str(labhosts.hostvars(name).get("llama_cpp_install_dir", "/opt/llama.cpp"))


def _stamp(name: str) -> dict[str, Any]:
    text = labhosts.connect(name).file(f"{_install_dir(name)}/current/llama-cpp-stamp.json").content_string
    return json.loads(text)


def _expected_tools(name: str) -> set[str]:
    return (TOOLS["llama_workers"] if name in WORKERS else set()) | (TOOLS["llama_heads"] if name in HEADS else set())


@pytest.mark.parametrize("name", HOSTS)
def test_current_points_at_a_release(name: str) -> None:
    current = labhosts.connect(name).file(f"{_install_dir(name)}/current")
    assert current.is_symlink
    assert RELEASE.match(current.linked_to.rsplit("/", 1)[-1]), current.linked_to
    assert labhosts.connect(name).file(current.linked_to).is_directory


@pytest.mark.parametrize("name", HOSTS)
def test_stamp_describes_the_current_release(name: str) -> None:
    stamp = _stamp(name)
    target = labhosts.connect(name).file(f"{_install_dir(name)}/current").linked_to
    assert stamp["release"] == target.rsplit("/", 1)[-1]
    assert stamp["release"] == f"{stamp['commit'][:12]}-{stamp['backend']}-{stamp['flags_hash']}"
    assert "-DGGML_RPC=ON" in stamp["cmake_flags"]
    assert stamp["build_wall_s"] > 0


@pytest.mark.parametrize("name", HOSTS)
def test_stamp_holds_only_the_tools_the_node_needs(name: str) -> None:
    stamp = _stamp(name)
    assert set(stamp["binaries"]) == _expected_tools(name)
    listed = labhosts.connect(name).check_output(f"ls {_install_dir(name)}/current/bin").split()
    assert sorted(listed) == sorted(stamp["binaries"].values())


@pytest.mark.parametrize("key", ["commit", "source_sha256", "rpc_protocol"])
def test_stamps_agree_across_nodes(key: str) -> None:
    values = {name: _stamp(name)[key] for name in HOSTS}
    assert len(set(values.values())) == 1, values


@pytest.mark.parametrize("name", HOSTS)
def test_stamp_commit_is_the_pin(name: str) -> None:
    pinned = labhosts.hostvars(name).get("llama_cpp_commit")
    stamp = _stamp(name)
    assert stamp["commit"] == pinned
    assert re.fullmatch(r"\d+\.\d+\.\d+", stamp["rpc_protocol"])


@pytest.mark.parametrize(("name", "tool"), BINARIES)
def test_binary_runs(name: str, tool: str) -> None:
    binary = _stamp(name)["binaries"][tool]
    result = labhosts.connect(name).run(f"{_install_dir(name)}/current/bin/{binary} {PROBE[tool]}")
    assert result.rc == 0, result.stderr
    if PROBE[tool] == "--version":
        # llama.cpp prints its build info on stderr.
        assert f"commit {_stamp(name)['commit'][:7]}" in result.stderr
    else:
        assert "usage" in (result.stdout + result.stderr).lower()
