"""The services after converge: units, bind addresses, the endpoint, the report.

Against the lab without molecule:
  MOLECULE_INVENTORY_FILE=inventory/lab/hosts.yml MOLECULE_EPHEMERAL_DIRECTORY=$PWD \
    pytest molecule/cluster/tests/test_services.py
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

import labhosts

ROOT = Path(__file__).resolve().parents[3]

HEADS = labhosts.group("llama_heads")
WORKERS = labhosts.group("llama_workers")
# (host, unit, account) for every service the roles run.
UNITS = [(w, "llama-rpc-server", "llama-rpc") for w in WORKERS] + [(h, "llama-server", "llama-server") for h in HEADS]


def _rpc_port(name: str) -> int:
    return int(labhosts.hostvars(name).get("cluster_rpc_port", 50052))


def _head_port(name: str) -> int:
    return int(labhosts.hostvars(name).get("cluster_api_port", 9999))


def _api_base(name: str) -> tuple[str, str]:
    """The head's API on its own loopback, and the certificate to trust ("" for plain HTTP)."""
    hostvars = labhosts.hostvars(name)
    if str(hostvars.get("cluster_api_tls", False)).lower() in ("true", "yes", "1"):
        cert = f"{hostvars.get('cluster_api_tls_dir', '/etc/llama-cluster/tls')}/api.crt"
        return f"https://127.0.0.1:{_head_port(name)}", cert
    return f"http://127.0.0.1:{_head_port(name)}", ""


SECRET_ENV = "/etc/default/llama-server.secret"


def _api_key(name: str) -> str:
    """The key the head serves with, read from its root-only environment file."""
    env = labhosts.connect(name).file(SECRET_ENV)
    if not env.exists:
        return ""
    for line in env.content_string.splitlines():
        if line.startswith("LLAMA_API_KEY="):
            return line.partition("=")[2].strip().strip('"')
    return ""


def _http(name: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    """Ask the head's server on its own loopback, with the head's python3 (over HTTPS
    where the head serves it, trusting its certificate).

    ``key`` defaults to the head's own API key, which the script reads on the
    head from its root-only environment file: the real key is never on a
    command line, here or on the head. "" sends none; any other value is sent
    as it is (a wrong key, no secret). An HTTP error status is returned like
    any other.
    """
    script = (
        "import json,ssl,sys,urllib.request as u,urllib.error as e;"
        "c=ssl.create_default_context(cafile=sys.argv[4] or None);"
        "d=sys.argv[2].encode() if sys.argv[2] else None;"
        "k=sys.argv[3];"
        "k=[l.split('=',1)[1].strip().strip('\"') for l in open(k[1:]) if l.startswith('LLAMA_API_KEY=')][0] "
        "if k.startswith('@') else k;"
        "h={'Content-Type':'application/json'};"
        "h.update({'Authorization':'Bearer '+k} if k else {});"
        "r=u.Request(sys.argv[1],data=d,headers=h)\n"
        "try:\n x=u.urlopen(r,timeout=120,context=c)\n"
        "except e.HTTPError as err:\n x=err\n"
        "print(x.status);print(x.read().decode())"
    )
    base, cert = _api_base(name)
    payload = json.dumps(body) if body else ""
    bearer = ("@" + SECRET_ENV if _api_key(name) else "") if key is None else key
    out = labhosts.connect(name).check_output(
        f"python3 -c {_q(script)} {_q(base + path)} {_q(payload)} {_q(bearer)} {_q(cert)}")
    status, _, text = out.partition("\n")
    return int(status), json.loads(text)


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _listeners(name: str, port: int) -> set[str]:
    out = labhosts.connect(name).check_output(f"ss -Hltn 'sport = :{port}'")
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize(("name", "unit", "user"), UNITS)
def test_unit_enabled_and_running(name: str, unit: str, user: str) -> None:
    service = labhosts.connect(name).service(unit)
    assert service.is_enabled
    assert service.is_running


@pytest.mark.parametrize(("name", "unit", "user"), UNITS)
def test_unit_restarts_always(name: str, unit: str, user: str) -> None:
    restart = labhosts.connect(name).check_output(f"systemctl show -p Restart --value {unit}.service")
    assert restart == "always"


@pytest.mark.parametrize(("name", "unit", "user"), UNITS)
def test_runs_as_unprivileged_system_user(name: str, unit: str, user: str) -> None:
    host = labhosts.connect(name)
    pid = host.check_output(f"systemctl show -p MainPID --value {unit}.service")
    owner = host.check_output(f"ps -o user= -p {pid}")
    assert owner == user
    assert host.user(user).uid < 1000
    assert host.user(user).shell == "/usr/sbin/nologin"


def _rpc_server_groups(name: str) -> list[str]:
    """rpc_server_groups for a worker: its inventory value, else the role's default."""
    hostvars = labhosts.hostvars(name)
    if "rpc_server_groups" in hostvars:
        return list(hostvars["rpc_server_groups"])
    defaults = yaml.safe_load((ROOT / "roles" / "rpc_server" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    return list(defaults["rpc_server_groups"])


@pytest.mark.parametrize("name", WORKERS)
def test_rpc_worker_can_reach_gpu_groups(name: str) -> None:
    # The role adds the configured groups that exist on the host, and only those.
    host = labhosts.connect(name)
    configured = _rpc_server_groups(name)
    present = sorted(g for g in configured if host.group(g).exists)
    assert present, f"none of rpc_server_groups {configured} exists on {name}: nothing to check"
    account = host.user("llama-rpc")
    assert sorted(set(account.groups) - {account.group}) == present


@pytest.mark.parametrize("name", WORKERS)
def test_rpc_server_listens_only_on_the_link_address(name: str) -> None:
    assert _listeners(name, _rpc_port(name)) == {labhosts.address(name)}


@pytest.mark.parametrize("name", WORKERS)
def test_rpc_server_not_on_the_management_address(name: str) -> None:
    host = labhosts.connect(name)
    eth0 = host.interface("eth0").addresses
    assert eth0, "the container has no eth0 address to compare with"
    for address in eth0:
        assert not host.socket(f"tcp://{address}:{_rpc_port(name)}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{_rpc_port(name)}").is_listening


@pytest.mark.parametrize("name", WORKERS)
def test_rpc_server_has_cache_and_all_cores(name: str) -> None:
    host = labhosts.connect(name)
    pid = host.check_output("systemctl show -p MainPID --value llama-rpc-server.service")
    argv = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")
    # /proc/PID/environ needs CAP_SYS_PTRACE in a container; ask systemd.
    environ = host.check_output("systemctl show -p Environment --value llama-rpc-server.service").split()
    assert "--cache" in argv
    assert argv[argv.index("--threads") + 1] == host.check_output("nproc")
    assert "LLAMA_CACHE=/var/cache/llama-rpc-server" in environ
    # The cache is pruned to its bound before each start, and says so in the journal.
    assert "prune-cache /var/cache/llama-rpc-server 102400" in host.check_output(
        "systemctl show -p ExecStartPre --value llama-rpc-server.service")
    assert "prune-cache: /var/cache/llama-rpc-server:" in host.check_output(
        "journalctl --no-pager -o cat -u llama-rpc-server.service")


@pytest.mark.parametrize("name", HEADS)
def test_llama_server_is_healthy(name: str) -> None:
    assert _http(name, "/health") == (200, {"status": "ok"})


@pytest.mark.parametrize("name", HEADS)
def test_llama_server_uses_every_worker(name: str) -> None:
    host = labhosts.connect(name)
    pid = host.check_output("systemctl show -p MainPID --value llama-server.service")
    argv = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")
    rpc = argv[argv.index("--rpc") + 1].split(",")
    assert rpc == [f"{labhosts.address(w)}:{_rpc_port(w)}" for w in WORKERS]


@pytest.mark.parametrize("name", HEADS)
def test_completion_has_text(name: str) -> None:
    status, reply = _http(name, "/v1/chat/completions",
                          {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16, "temperature": 0})
    assert status == 200
    assert reply["choices"][0]["message"]["content"].strip()


@pytest.mark.parametrize("name", HEADS)
def test_a_prompt_reaches_no_log(name: str) -> None:
    """At --log-verbosity 4 llama-server logs each task a slot takes (INFO), not the request's body (DEBUG, level 5).

    At the pin its HTTP request logger is off (server-http.cpp: ``// srv->set_logger(log_server_request)``), so
    the witness that the request was logged at all is the slot's "processing task" line.
    """
    host = labhosts.connect(name)
    canary = f"canary-{uuid.uuid4().hex}"
    since = host.check_output("date +%s")
    status, _ = _http(name, "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": f"Repeat {canary}."}], "max_tokens": 4})
    assert status == 200
    journal = host.check_output(f"journalctl --no-pager -o cat --since @{since}")
    assert "processing task" in journal, "the request left no line at all: the check would see nothing"
    assert canary not in journal


@pytest.mark.parametrize("name", HEADS)
def test_completion_needs_the_key(name: str) -> None:
    """The head serves beyond loopback, so it has a key; a wrong one or none is refused."""
    assert _api_key(name), "the lab's head serves on 0.0.0.0 and must have an API key"
    question = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4}
    assert _http(name, "/v1/chat/completions", question, key="")[0] == 401
    assert _http(name, "/v1/chat/completions", question, key="not-the-key")[0] == 401
    assert _http(name, "/v1/chat/completions", question)[0] == 200


@pytest.mark.parametrize("name", HEADS)
def test_api_key_is_in_no_argv_and_its_files_are_roots(name: str) -> None:
    """The key reaches llama-server and its watchdog through files only root reads, never a command line."""
    key = _api_key(name)
    host = labhosts.connect(name)
    for path in (SECRET_ENV, "/var/lib/llama-watchdog/head.api-key"):
        secret = host.file(path)
        assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600), path
        assert key in secret.content_string, path
    # Every process's command line at once, the key sought here (never in a command on the host).
    lines = host.check_output(
        "for f in /proc/[0-9]*/cmdline; do printf '%s ' \"$f\"; tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done"
    ).splitlines()
    assert any("llama-server" in line for line in lines), "llama-server's command line was not read"
    leaks = [line.split(" ", 1)[0] for line in lines if key in line]
    assert not leaks, f"the API key is in the command line of PIDs {leaks}"


@pytest.mark.parametrize("name", HEADS)
def test_tls_key_is_private_to_the_server(name: str) -> None:
    """Where the head serves HTTPS: its key is root's, readable by llama-server's group only."""
    base, cert = _api_base(name)
    if not cert:
        pytest.skip(f"{name} serves plain HTTP")
    host = labhosts.connect(name)
    key = host.file(cert.rsplit("/", 1)[0] + "/api.key")
    assert (key.user, key.group, key.mode) == ("root", "llama-server", 0o640)
    assert host.file(cert).mode == 0o644
    pid = host.check_output("systemctl show -p MainPID --value llama-server.service")
    argv = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")
    assert argv[argv.index("--ssl-cert-file") + 1] == cert
    assert argv[argv.index("--ssl-key-file") + 1] == key.path


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((labhosts.reports_dir() / "cluster.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", HEADS)
def test_report_says_the_remote_device_was_used(report: dict, name: str) -> None:
    head = next(h for h in report["heads"] if h["head"] == name)
    assert head["remote_used"] is True
    for worker in WORKERS:
        endpoint = f"{labhosts.address(worker)}:{_rpc_port(worker)}"
        assert head["remote_model_mib"][endpoint] > 0
        assert any(b["endpoint"] == endpoint and b["kind"] == "model" for b in head["rpc_buffers"])


@pytest.mark.parametrize("name", HEADS)
def test_report_workers_answered_with_the_built_protocol(report: dict, name: str) -> None:
    head = next(h for h in report["heads"] if h["head"] == name)
    assert sorted(w["host"] for w in head["workers"]) == WORKERS
    for worker in head["workers"]:
        assert worker["reachable"] is True
        assert worker["protocol"] == head["build"]["rpc_protocol"]
        assert worker["devices"] and worker["devices"][0]["total_bytes"] > 0
