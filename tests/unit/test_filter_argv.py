"""What the service roles refuse in extra arguments, unit lines and environments.

The facts the owned-flag rules rest on, at the pinned llama.cpp 0c1e570:
llama-server's parser turns ``_`` into ``-`` in an argument that starts with
``--`` before it looks the flag up (common/arg.cpp:824, again at :1217);
rpc-server compares each argument whole and answers an unknown one, or
``--help``, with its usage and exit status 0 (tools/rpc/rpc-server.cpp:109-156).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_loader import load

argv = load("filter", "argv")

ROOT = Path(__file__).resolve().parents[2]
RPC_OWNED = ["--host", "-H", "--port", "-p"]


def _role_vars(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8"))


LLAMA_OWNED: list[str] = _role_vars("llama_server")["__llama_server_owned_flags"]
RPC_VARS = _role_vars("rpc_server")

# Every spelling common/arg.cpp gives the flags the role sets, moves its routes
# with, or fetches an unchecksummed model with (line of each option at the pin).
LLAMA_MUST_OWN = [
    "-m", "--model",  # 3035
    "--rpc",  # 2680
    "-ngl", "--gpu-layers", "--n-gpu-layers",  # 2789
    "-c", "--ctx-size",  # 1639
    "--host",  # 3314
    "--port",  # 3330
    "-lv", "--verbosity", "--log-verbosity",  # 3939
    "-ts", "--tensor-split",  # 2831, set by the split plan
    "--ssl-cert-file", "--ssl-key-file",  # 3527, 3520
    "--api-prefix",  # 3387: every route, /health too, moves under it
    "-mu", "--model-url",  # 3044
    "-dr", "--docker-repo",  # 3051
    "-hf", "-hfr", "--hf-repo", "-hff", "--hf-file", "-hft", "--hf-token",  # 3060, 3070, 3077
    "--spec-draft-hf", "-hfd", "-hfrd", "--hf-repo-draft",  # 3975
    "-mmu", "--mmproj-url",  # 2586
    "--embd-gemma-default", "--fim-qwen-1.5b-default", "--fim-qwen-3b-default",  # 4560-4720: a model
    "--fim-qwen-7b-default", "--fim-qwen-7b-spec", "--fim-qwen-14b-spec",  # from Hugging Face,
    "--fim-qwen-30b-default", "--gpt-oss-20b-default", "--gpt-oss-120b-default",  # and --port and
    "--vision-gemma-4b-default", "--vision-gemma-12b-default",  # --ctx-size of their own
]


def _underscored(flag: str) -> str:
    return "--" + flag[2:].replace("-", "_")


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
    assert argv.owned_flags(args, RPC_OWNED, normalise_underscores=False) == found


def test_a_key_on_the_command_line_is_found_in_every_spelling() -> None:
    keys = ["--api-key", "--api-key-file"]
    assert argv.owned_flags(["--alias", "g", "--api-key=s3cret"], keys, normalise_underscores=True) == ["--api-key"]
    assert argv.owned_flags(["--api_key", "s3cret", "--api_key_file=/k"], keys, normalise_underscores=True) == [
        "--api_key", "--api_key_file"]


def test_llama_server_owns_every_alias_at_the_pin() -> None:
    assert sorted(set(LLAMA_MUST_OWN) - set(LLAMA_OWNED)) == []
    assert len(LLAMA_OWNED) == len(set(LLAMA_OWNED))


@pytest.mark.parametrize("flag", LLAMA_OWNED)
def test_llama_server_refuses_each_owned_flag_in_every_spelling(flag: str) -> None:
    spellings = [flag, f"{flag}=1"]
    if flag.startswith("--"):
        spellings += [_underscored(flag), f"{_underscored(flag)}=1", "--" + flag[2:].replace("-", "_", 1)]
    for spelling in spellings:
        found = argv.owned_flags(["--alias", "g", spelling, "1"], LLAMA_OWNED, normalise_underscores=True)
        assert found == [spelling.split("=", 1)[0]], spelling


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--n_gpu_layers", "9", "--ctx_size=1", "--log_verbosity", "0"], ["--n_gpu_layers", "--ctx_size", "--log_verbosity"]),
        (["--ssl_key_file", "/k", "--tensor_split", "1,1", "--hf_repo", "a/b"], ["--ssl_key_file", "--tensor_split", "--hf_repo"]),
        (["--n-gpu_layers", "1", "--n_gpu-layers", "2"], ["--n-gpu_layers", "--n_gpu-layers"]),
        # Each spelling once, as written; short flags are never rewritten.
        (["--ctx_size", "1", "--ctx_size", "2", "--ctx-size", "3"], ["--ctx_size", "--ctx-size"]),
        (["-n_gl", "1", "-t_s", "1"], []),
    ],
)
def test_llama_server_reads_underscores_as_dashes(args: list[str], found: list[str]) -> None:
    assert argv.owned_flags(args, LLAMA_OWNED, normalise_underscores=True) == found


@pytest.mark.parametrize("args", [["--portal", "1"], ["--hosts=x"], ["--model-draft", "d.gguf"], ["--rpc_x", "1"],
                                  ["-mmproj", "p"], ["--metrics"], ["-md", "d.gguf"], ["--alias", "g"]])
def test_a_flag_that_only_starts_like_an_owned_one_is_free(args: list[str]) -> None:
    assert argv.owned_flags(args, LLAMA_OWNED, normalise_underscores=True) == []


def test_owned_spellings_with_underscores_match_dashes() -> None:
    assert argv.owned_flags(["--ctx-size", "1"], ["--ctx_size"], normalise_underscores=True) == ["--ctx-size"]
    assert argv.owned_flags(["--ctx-size", "1"], ["--ctx_size"], normalise_underscores=False) == []


@pytest.mark.parametrize("flag", RPC_VARS["__rpc_server_owned_flags"])
def test_rpc_server_refuses_its_owned_flags_exactly(flag: str) -> None:
    owned = RPC_VARS["__rpc_server_owned_flags"]
    assert argv.owned_flags([flag, "1"], owned, normalise_underscores=False) == [flag]
    assert argv.owned_flags([f"{flag}=1"], owned, normalise_underscores=False) == [flag]


def _rpc_unknown(args: list[str]) -> list[str]:
    known = RPC_VARS["__rpc_server_owned_flags"] + RPC_VARS["__rpc_server_other_flags"]
    return argv.unknown_flags(args, known, RPC_VARS["__rpc_server_value_flags"])


def test_rpc_server_knows_nothing_beyond_its_own_flags_at_the_pin() -> None:
    assert RPC_VARS["__rpc_server_other_flags"] == []
    assert set(RPC_VARS["__rpc_server_value_flags"]) == {"-H", "--host", "-p", "--port", "-t", "--threads", "-d", "--device"}
    assert set(RPC_VARS["__rpc_server_required_flags"]) <= set(RPC_VARS["__rpc_server_owned_flags"])


@pytest.mark.parametrize(
    ("args", "found"),
    [
        # The role's own flags and their values are no unknown flags (owned_flags names them).
        (["-H", "0.0.0.0", "--port", "1", "-c", "-t", "4", "-d", "CPU"], []),
        # An underscore spelling, a --flag=value form, --help and anything else: usage, exit 0.
        (["--n_threads", "4"], ["--n_threads", "4"]),
        (["--port=1"], ["--port=1"]),
        (["--help"], ["--help"]),
        (["-h", "-h", "--mem", "4096"], ["-h", "--mem", "4096"]),
        # A value-taking flag takes the next argument whatever it looks like.
        (["-d", "--mem"], []),
    ],
)
def test_rpc_server_refuses_what_its_parser_does_not_know(args: list[str], found: list[str]) -> None:
    assert _rpc_unknown(args) == found


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


# The preflight asserts themselves, rendered by Ansible's Templar with the
# role's defaults and vars and the task's own vars, as the play renders them.

@functools.cache
def _plugins() -> None:
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def _preflight(role: str, task_name: str, **extra: Any) -> tuple[bool, str]:
    pytest.importorskip("ansible")
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    from unit_text import trust

    _plugins()
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for path in ("defaults/main.yml", "vars/main.yml"):
        variables.update(trust(loader.load_from_file(str(ROOT / "roles" / role / path))))
    task = next(t for t in loader.load_from_file(str(ROOT / "roles" / role / "tasks" / "preflight.yml"))
                if t["name"] == task_name)
    variables.update(trust(task.get("vars", {})))
    variables.update(inventory_hostname="h", llama_server_tls=False, **extra)
    templar = Templar(loader=loader, variables=variables)
    check = task["ansible.builtin.assert"]
    passed = bool(templar.template(trust_as_template("{{ " + str(check["that"]) + " }}")))
    return passed, str(templar.template(trust_as_template(str(check["fail_msg"]))))


LLAMA_OWNED_TASK = "Check the extra arguments leave the role's own flags alone"


def test_llama_server_preflight_names_each_flag_as_written() -> None:
    passed, msg = _preflight("llama_server", LLAMA_OWNED_TASK,
                             llama_server_extra_args=["--host", "0.0.0.0", "--port=1", "--ctx_size", "1", "-hf", "a/b"])
    assert not passed
    assert msg.startswith("Host h: llama_server_extra_args repeats --host, --port, --ctx_size, -hf, which the role owns")
    assert _preflight("llama_server", LLAMA_OWNED_TASK, llama_server_extra_args=["--portal", "1"])[0]


def test_llama_server_preflight_refuses_a_key_in_any_spelling() -> None:
    passed, msg = _preflight("llama_server", "Check no API key is passed on the command line",
                             llama_server_extra_args=["--api_key", "s3cret"])
    assert not passed
    assert "llama_server_extra_args passes --api_key;" in msg


RPC_OWNED_TASK = "Check the extra arguments leave the role's own flags alone"
RPC_UNKNOWN_TASK = "Check the extra arguments hold only flags the server knows"


@pytest.mark.parametrize(
    ("args", "owned", "unknown"),
    [
        (["-H", "0.0.0.0", "--port", "1"], "rpc_server_extra_args repeats -H, --port, which the role sets itself", None),
        (["--port=1"], "rpc_server_extra_args repeats --port, which", "rpc_server_extra_args holds --port=1, which"),
        (["--n_threads", "4"], None, "rpc_server_extra_args holds --n_threads, 4, which the server does not accept"),
        (["--help"], None, "rpc_server_extra_args holds --help, which"),
        ([], None, None),
    ],
)
def test_rpc_server_preflight_refuses_owned_and_unknown_flags(args: list[str], owned: str | None, unknown: str | None) -> None:
    for task, expect in ((RPC_OWNED_TASK, owned), (RPC_UNKNOWN_TASK, unknown)):
        passed, msg = _preflight("rpc_server", task, rpc_server_extra_args=args)
        assert passed == (expect is None), task
        assert expect is None or expect in msg
