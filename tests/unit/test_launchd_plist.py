"""Render the service_unit templates as the two service roles call them, and parse them.

The variables are composed the way the play composes them: service_unit's
defaults and vars, the calling role's defaults and vars, the vars of its
include_role task, then the inventory. Ansible's own Templar renders them,
with the project's filter plugins, and plistlib parses the LaunchDaemon.
"""

from __future__ import annotations

import os
import plistlib
import shlex
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

pytest.importorskip("ansible")
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.plugins.loader import init_plugin_loader  # noqa: E402
from ansible.template import Templar, trust_as_template  # noqa: E402
from unit_text import directives as _directives  # noqa: E402
from unit_text import trust as _trust  # noqa: E402

WAIT = "/usr/local/libexec/service-unit/wait-for-address"
BIN = "/opt/llama.cpp/current/bin"

INVENTORY: dict[str, dict[str, Any]] = {
    "spark": {"direct_link_address": "192.168.100.2/24"},
    "spark2": {"direct_link_address": "192.168.100.3/24", "rpc_server_port": 50053},
    "studio": {"direct_link_address": "192.168.100.1/24"},
}

CASES: dict[str, dict[str, Any]] = {
    "rpc_server": {
        "host": "spark",
        "extra": {"rpc_server_device": "CUDA0"},
        "label": "org.ggml.llama-rpc-server",
        "user": "llama-rpc",
        "address": "192.168.100.2",
        "argv": [f"{BIN}/ggml-rpc-server", "--host", "192.168.100.2", "--port", "50052",
                 "--threads", "20", "--device", "CUDA0", "--cache"],
        "env": {"LLAMA_CACHE": "/var/cache/llama-rpc-server"},
    },
    "llama_server": {
        "host": "studio",
        "extra": {"llama_server_model_path": "/Users/Shared/models/m.gguf", "llama_server_host": "0.0.0.0",
                  "llama_server_api_key": "s3cret", "llama_server_extra_args": ["--alias", "gemma"]},
        "label": "org.ggml.llama-server",
        "user": "llama-server",
        "address": "192.168.100.1",
        "argv": [f"{BIN}/llama-server", "--model", "/Users/Shared/models/m.gguf",
                 "--rpc", "192.168.100.2:50052,192.168.100.3:50053", "--n-gpu-layers", "99",
                 "--ctx-size", "4096", "--host", "0.0.0.0", "--port", "9999", "--log-verbosity", "4",
                 "--alias", "gemma"],
        "env": {"LLAMA_API_KEY": "s3cret"},
    },
}


init_plugin_loader()


def _templar(role: str, case: dict[str, Any]) -> Templar:
    loader = DataLoader()
    variables: dict[str, Any] = {}
    for path in ("service_unit/defaults/main.yml", "service_unit/vars/main.yml",
                 f"{role}/defaults/main.yml", f"{role}/vars/main.yml"):
        variables.update(_trust(loader.load_from_file(str(ROOT / "roles" / path))))
    # The role runs its service from tasks/serve.yml (main.yml picks serve or retire).
    tasks = loader.load_from_file(str(ROOT / "roles" / role / "tasks" / "serve.yml"))
    include = next(t for t in tasks if t.get("ansible.builtin.include_role", {}).get("name") == "service_unit"
                   and "tasks_from" not in t["ansible.builtin.include_role"])
    variables.update(_trust(include["vars"]))
    variables.update(
        inventory_hostname=case["host"],
        hostvars=INVENTORY,
        groups={"llama_workers": ["spark", "spark2"], "llama_heads": ["studio"]},
        ansible_facts={"system": "Darwin", "processor_nproc": 20},
        ansible_managed="Ansible managed",
        # What playbooks/vars/wiring.yml passes from the cluster role.
        rpc_server_binary=f"{BIN}/ggml-rpc-server",
        rpc_server_address=INVENTORY["spark"]["direct_link_address"].split("/")[0],
        rpc_server_build={},
        llama_server_binary=f"{BIN}/llama-server",
        llama_server_link_address=INVENTORY["studio"]["direct_link_address"].split("/")[0],
        llama_server_rpc_endpoints=["192.168.100.2:50052", "192.168.100.3:50053"],
        llama_server_build={},
        llama_server_restart_reasons=[],
        **INVENTORY[case["host"]],
    )
    variables.update(case["extra"])
    return Templar(loader=loader, variables=variables)


def _render(role: str, template: str, **extra: Any) -> str:
    templar = _templar(role, {**CASES[role], "extra": {**CASES[role]["extra"], **extra}})
    text = (ROOT / "roles" / "service_unit" / "templates" / template).read_text(encoding="utf-8")
    return str(templar.template(trust_as_template(text)))


@pytest.fixture(scope="module", params=sorted(CASES))
def service(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    role = request.param
    return CASES[role], plistlib.loads(_render(role, "launchd.plist.j2").encode())


def test_label_matches_the_file_name(service: tuple[dict, dict]) -> None:
    case, plist = service
    assert plist["Label"] == case["label"]


def test_program_waits_for_the_link_address_then_execs_the_argv(service: tuple[dict, dict]) -> None:
    case, plist = service
    assert plist["ProgramArguments"] == [WAIT, case["address"], plist["ProgramArguments"][2], case["label"], "--"] + case["argv"]
    assert int(plist["ProgramArguments"][2]) > 0


def test_keepalive_and_runatload(service: tuple[dict, dict]) -> None:
    _, plist = service
    assert plist["KeepAlive"] is True
    assert plist["RunAtLoad"] is True


def test_runs_as_the_dedicated_user(service: tuple[dict, dict]) -> None:
    case, plist = service
    assert plist["UserName"] == case["user"]
    assert plist["GroupName"] == case["user"]


def test_environment(service: tuple[dict, dict]) -> None:
    case, plist = service
    assert plist["EnvironmentVariables"] == case["env"]


def test_logs_go_to_one_file_per_service(service: tuple[dict, dict]) -> None:
    _, plist = service
    assert plist["StandardErrorPath"] == plist["StandardOutPath"]
    assert plist["StandardErrorPath"].startswith("/var/log/llama-")


@pytest.mark.parametrize("role", sorted(CASES))
def test_systemd_unit_runs_the_same_argv(role: str) -> None:
    case = CASES[role]
    unit = _render(role, "service.unit.j2")
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    assert shlex.split(lines["ExecStart"]) == case["argv"]
    assert shlex.split(lines["ExecStartPre"])[:2] == [WAIT, case["address"]]
    assert lines["Restart"] == "always"
    assert lines["User"] == case["user"]


def test_api_key_is_never_on_the_command_line() -> None:
    unit = _render("llama_server", "service.unit.j2")
    assert "s3cret" not in unit
    assert "EnvironmentFile=/etc/default/llama-server.secret" in unit


@pytest.mark.parametrize("role", sorted(CASES))
def test_unit_is_confined_to_its_own_directories(role: str) -> None:
    unit = _directives(_render(role, "service.unit.j2"))
    for key, value in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "NoNewPrivileges": "yes", "LockPersonality": "yes", "SystemCallArchitectures": "native",
        "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
    }.items():
        assert unit[key] == [value], key
    assert "AF_INET" in unit["RestrictAddressFamilies"][0].split()
    home = f"/var/lib/{'llama-rpc-server' if role == 'rpc_server' else 'llama-server'}"
    assert shlex.split(unit["ReadWritePaths"][0])[0] == f"-{home}"
    assert "DeviceAllow" not in unit


def test_a_cuda_worker_keeps_its_gpu_devices_and_nothing_else() -> None:
    unit = _directives(_render("rpc_server", "service.unit.j2", rpc_server_build={"backend": "cuda"}))
    assert unit["DevicePolicy"] == ["closed"]
    assert "char-nvidiactl rwm" in unit["DeviceAllow"]
    assert "char-nvidia-uvm rwm" in unit["DeviceAllow"]
    assert "PrivateDevices" not in unit
    assert "MemoryDenyWriteExecute" not in unit
