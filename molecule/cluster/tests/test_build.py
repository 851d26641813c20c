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
# Each tool's file in current/bin, found without the stamp: the RPC server
# is ggml-rpc-server in newer commits and rpc-server in older ones.
FILES = {"rpc_server": re.compile(r"^(ggml-)?rpc-server$"), "llama_server": re.compile(r"^llama-server$"),
         "llama_bench": re.compile(r"^llama-bench$")}
# common's llama_print_build_info, on stderr: "version: 1 (0c1e570)" in older
# commits, "version: <ggml version> (build 1, commit 0c1e570)" in newer ones.
VERSION_COMMIT = re.compile(r"^version: .*\((?:build \d+, commit )?(?P<commit>[0-9a-f]{7,40}|unknown)\)$", re.M)


def _install_dir(name: str) -> str:
    return str(labhosts.hostvars(name).get("llama_cpp_install_dir", "/opt/llama.cpp"))


def _stamp(name: str) -> dict[str, Any]:
    text = labhosts.connect(name).file(f"{_install_dir(name)}/current/llama-cpp-stamp.json").content_string
    return json.loads(text)


def _expected_tools(name: str) -> set[str]:
    return (TOOLS["llama_workers"] if name in WORKERS else set()) | (TOOLS["llama_heads"] if name in HEADS else set())


def _built_commit(name: str, tool: str) -> str:
    """The commit the tool's binary in current/bin says it was built from, read from the binary alone.

    llama-server and llama-bench print it with --version. The RPC server has
    no --version: its static binary carries ggml's commit string instead.
    """
    bin_dir = f"{_install_dir(name)}/current/bin"
    [file] = [f for f in labhosts.connect(name).check_output(f"ls {bin_dir}").split() if FILES[tool].match(f)]
    if PROBE[tool] == "--version":
        result = labhosts.connect(name).run(f"{bin_dir}/{file} --version")
        found = VERSION_COMMIT.search(result.stderr)
        assert found, f"{name}: {file} --version printed no commit: {result.stderr!r}"
        return found.group("commit")
    pinned = labhosts.pinned_commit()
    commits = labhosts.embedded_commits(name, f"{bin_dir}/{file}")
    built = [commit for commit in commits if pinned.startswith(commit)]
    # Any other commit-like string in the binary is returned as it is, for the message.
    return built[0] if built else ", ".join(sorted(commits)) or "none"


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
    # The release is named after the pin it was asked to build.
    assert stamp["release"] == f"{stamp['inputs']['commit'][:12]}-{stamp['backend']}-{stamp['flags_hash']}"
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


@pytest.mark.parametrize(("name", "tool"), BINARIES)
def test_built_commit_is_the_pin(name: str, tool: str) -> None:
    # From the binaries alone, against the pin in the role's defaults (the
    # inventories do not set it): neither the stamp nor inventory variables.
    built = _built_commit(name, tool)
    assert re.fullmatch(r"[0-9a-f]{7,40}", built) and labhosts.pinned_commit().startswith(built), (
        f"{name}: {tool} was built from {built}, the pin is {labhosts.pinned_commit()}"
    )


@pytest.mark.parametrize(("name", "tool"), BINARIES)
def test_stamp_commit_is_the_built_commit(name: str, tool: str) -> None:
    built = _built_commit(name, tool)
    stamp = _stamp(name)
    assert stamp["commit"][: len(built)] == built, (stamp["commit"], built)
    assert re.fullmatch(r"\d+\.\d+\.\d+", stamp["rpc_protocol"])


@pytest.mark.parametrize(("name", "tool"), BINARIES)
def test_binary_runs(name: str, tool: str) -> None:
    binary = _stamp(name)["binaries"][tool]
    result = labhosts.connect(name).run(f"{_install_dir(name)}/current/bin/{binary} {PROBE[tool]}")
    assert result.rc == 0, result.stderr
    if PROBE[tool] == "--version":
        # llama.cpp prints its build info on stderr.
        assert VERSION_COMMIT.search(result.stderr), result.stderr
    else:
        assert "usage" in (result.stdout + result.stderr).lower()
