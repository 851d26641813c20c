"""plugins/filter/releases.py: which release llama_cpp_release names, what is wrong with it, mixed clusters, pruning."""

from __future__ import annotations

import pytest

from plugin_loader import load

releases = load("filter", "releases")

PIN = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
OTHER = "b1a2c3d4e5f60718293a4b5c6d7e8f9012345678"
NOW = "0c1e57098bba-cpu-4f1d2a9c0b"
FLAGGED = "0c1e57098bba-cpu-9e8d7c6b5a"
OLD = "b1a2c3d4e5f6-cpu-1234567890"
INSTALLED = [NOW, FLAGGED, OLD]
STAMP = {"release": FLAGGED, "commit": PIN, "inputs": {"commit": PIN}, "rpc_protocol": "3.0.0",
         "binaries": {"llama_server": "llama-server", "llama_bench": "llama-bench"}}
HEAD_TOOLS = ["llama_server", "llama_bench"]
LINK = "/opt/llama.cpp/previous"


def errors(requested: str, **overrides: object) -> list[str]:
    args: dict = {"host": "studio", "releases": INSTALLED, "previous": FLAGGED, "current": NOW, "stamp": STAMP,
                  "tools": HEAD_TOOLS, "install_dir": "/opt/llama.cpp", "previous_link": LINK}
    args.update(overrides)
    return releases.release_errors(requested, **args)


# --- release_target -----------------------------------------------------------


def test_an_empty_value_builds_the_pin() -> None:
    assert releases.release_target("", FLAGGED) == ""
    assert releases.release_target("  ", FLAGGED) == ""


def test_previous_is_where_the_link_points() -> None:
    assert releases.release_target("previous", FLAGGED) == FLAGGED
    # A link written with a path counts by its last component, as current does.
    assert releases.release_target("previous", "/opt/llama.cpp/" + FLAGGED) == FLAGGED


def test_previous_without_a_link_names_nothing() -> None:
    assert releases.release_target("previous", "") == ""


def test_an_explicit_name_is_itself() -> None:
    assert releases.release_target(OLD, FLAGGED) == OLD


# --- release_errors ------------------------------------------------------------


def test_no_value_no_error() -> None:
    assert errors("", releases=[], previous="", stamp=None) == []


def test_previous_that_is_installed_passes() -> None:
    assert errors("previous") == []


def test_an_installed_release_by_name_passes() -> None:
    assert errors(FLAGGED) == []


def test_a_missing_release_names_variable_host_value_and_lists_the_releases() -> None:
    wanted = "0c1e57098bba-cpu-0000000000"
    assert errors(wanted, releases=[NOW, FLAGGED], stamp=None) == [
        f"Host studio: llama_cpp_release is '{wanted}', but studio has no release of that name in /opt/llama.cpp;"
        f" its releases are {NOW} (current), {FLAGGED} (previous)."
        " Name one of them, 'previous', or '' to build the pin (llama_cpp_commit)."
    ]


def test_a_path_is_no_release_name() -> None:
    (message,) = errors("../../etc", stamp=None)
    assert "llama_cpp_release is '../../etc', but studio has no release of that name" in message


def test_previous_without_a_record_is_refused() -> None:
    (message,) = errors("previous", previous="", stamp=None)
    assert message.startswith(
        f"Host studio: llama_cpp_release is 'previous', but studio has no record of a previous release (no {LINK};"
    )
    # Sorted by name, current marked; nothing is previous.
    assert message.endswith(
        f"its releases are {NOW} (current), {FLAGGED}, {OLD}. Name one of them, 'previous', or '' to build the pin"
        " (llama_cpp_commit)."
    )


def test_previous_that_was_pruned_is_refused_by_name() -> None:
    (message,) = errors("previous", releases=[NOW], stamp=None)
    assert message == (
        f"Host studio: llama_cpp_release is 'previous', but the previous release of studio, {FLAGGED} ({LINK}),"
        f" is no longer installed; its releases are {NOW} (current)."
        " Name one of them, 'previous', or '' to build the pin (llama_cpp_commit)."
    )


def test_a_host_without_releases_says_so() -> None:
    (message,) = errors(FLAGGED, releases=[], previous="", current="", stamp=None)
    assert "studio has no release of that name in /opt/llama.cpp; it has no release." in message
    assert message.endswith("Set llama_cpp_release to '' to build the pin (llama_cpp_commit).")


def test_a_release_without_a_stamp_is_refused() -> None:
    (message,) = errors(FLAGGED, stamp={})
    assert f"release {FLAGGED} on studio has no stamp (an install that did not finish)" in message


def test_a_release_without_the_hosts_tools_is_refused() -> None:
    worker_only = dict(STAMP, binaries={"rpc_server": "ggml-rpc-server"})
    (message,) = errors("previous", stamp=worker_only)
    assert (
        f"release {FLAGGED} on studio has the tools ['rpc_server'], and studio needs ['llama_bench', 'llama_server']"
        " as well (llama_cpp_tools)"
    ) in message


def test_a_release_whose_binaries_are_gone_is_refused() -> None:
    stats = [{"item": "llama-bench", "stat": {"exists": True, "executable": True}},
             {"item": "llama-server", "stat": {"exists": False}}]
    (message,) = errors("previous", binary_stats=stats)
    assert f"release {FLAGGED} on studio lacks its binaries ['llama-server'] (missing or not executable)" in message
    assert errors("previous", binary_stats=stats[:1]) == []


# --- target_disagreements --------------------------------------------------------


def pin(commit: str = PIN) -> dict:
    return {"commit": commit, "rpc_protocol": "", "release": "", "requested": ""}


def back(release: str, commit: str = PIN, protocol: str = "3.0.0", requested: str = "previous") -> dict:
    return {"commit": commit, "rpc_protocol": protocol, "release": release, "requested": requested}


def test_nodes_going_to_one_commit_agree() -> None:
    assert releases.target_disagreements(["spark", "studio"], [pin(), pin()]) == []
    assert releases.target_disagreements(["spark", "studio"], [back(FLAGGED), back(FLAGGED)]) == []
    # One node back on a release of the pin's commit, the other building the pin: the same llama.cpp.
    assert releases.target_disagreements(["spark", "studio"], [pin(), back(FLAGGED)]) == []


def test_a_worker_on_another_commit_is_named_with_every_commit() -> None:
    assert releases.target_disagreements(["spark", "spark2", "studio"], [back(OLD, OTHER), back(FLAGGED), back(FLAGGED)]) == [
        f"commit: spark={OTHER} (release {OLD}, llama_cpp_release 'previous'),"
        f" spark2={PIN} (release {FLAGGED}, llama_cpp_release 'previous'),"
        f" studio={PIN} (release {FLAGGED}, llama_cpp_release 'previous')"
    ]


def test_a_host_override_of_the_pin_is_named() -> None:
    assert releases.target_disagreements(["spark", "studio"], [pin(OTHER), pin()]) == [
        f"commit: spark={OTHER} (the pin, llama_cpp_commit),"
        f" studio={PIN} (the pin, llama_cpp_commit)"
    ]


def test_a_release_named_explicitly_says_so() -> None:
    (line,) = releases.target_disagreements(["spark", "studio"], [back(OLD, OTHER, requested=OLD), pin()])
    assert f"spark={OTHER} (release {OLD}, llama_cpp_release '{OLD}')" in line


def test_known_protocols_that_differ_are_named() -> None:
    assert releases.target_disagreements(
        ["spark", "spark2", "studio"], [back(FLAGGED, protocol="3.0.0"), pin(), back(FLAGGED, protocol="2.0.0")]
    ) == ["RPC protocol: spark=3.0.0, studio=2.0.0"]


def test_a_node_without_a_target_disagrees() -> None:
    assert releases.target_disagreements(["spark", "studio"], [pin(), {}]) == [
        f"commit: spark={PIN} (the pin, llama_cpp_commit),"
        " studio=(unknown) (the pin, llama_cpp_commit)"
    ]
    assert releases.target_disagreements(["spark", "studio"], [pin(), None]) != []


def test_target_disagreements_needs_one_target_per_host() -> None:
    with pytest.raises(ValueError, match="2 hosts but 1 targets"):
        releases.target_disagreements(["spark", "studio"], [pin()])


# --- releases_to_prune --------------------------------------------------------------


def found(*names_and_mtimes: tuple[str, float]) -> list[dict]:
    return [{"path": f"/opt/llama.cpp/{name}", "mtime": mtime} for name, mtime in names_and_mtimes]


def test_the_oldest_beyond_keep_go() -> None:
    on_disk = found(("a" * 12 + "-cpu-0000000001", 1.0), ("b" * 12 + "-cpu-0000000002", 2.0),
                    ("c" * 12 + "-cpu-0000000003", 3.0), (NOW, 4.0))
    assert releases.releases_to_prune(on_disk, 3, NOW) == ["/opt/llama.cpp/" + "a" * 12 + "-cpu-0000000001"]


def test_current_stays_even_when_oldest() -> None:
    on_disk = found((NOW, 1.0), (FLAGGED, 2.0), (OLD, 3.0))
    assert releases.releases_to_prune(on_disk, 1, NOW) == [f"/opt/llama.cpp/{OLD}", f"/opt/llama.cpp/{FLAGGED}"]


def test_previous_stays_even_when_oldest() -> None:
    newer = "d" * 12 + "-cpu-0000000004"
    on_disk = found((OLD, 1.0), (FLAGGED, 2.0), (newer, 3.0), (NOW, 4.0))
    assert releases.releases_to_prune(on_disk, 3, NOW, OLD) == [f"/opt/llama.cpp/{FLAGGED}"]
    assert releases.releases_to_prune(on_disk, 2, NOW, OLD) == [f"/opt/llama.cpp/{newer}", f"/opt/llama.cpp/{FLAGGED}"]


def test_keeping_one_keeps_no_previous() -> None:
    on_disk = found((OLD, 1.0), (NOW, 2.0))
    assert releases.releases_to_prune(on_disk, 1, NOW, OLD) == [f"/opt/llama.cpp/{OLD}"]


def test_a_previous_no_longer_there_takes_no_place() -> None:
    on_disk = found((OLD, 1.0), (FLAGGED, 2.0), (NOW, 3.0))
    assert releases.releases_to_prune(on_disk, 3, NOW, "0c1e57098bba-cpu-gone000000") == []
    assert releases.releases_to_prune(on_disk, 2, NOW, "0c1e57098bba-cpu-gone000000") == [f"/opt/llama.cpp/{OLD}"]


def test_keep_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="keep is 0"):
        releases.releases_to_prune([], 0, NOW)


def test_filter_names() -> None:
    assert sorted(releases.FilterModule().filters()) == [
        "release_errors",
        "release_target",
        "releases_to_prune",
        "target_disagreements",
    ]
