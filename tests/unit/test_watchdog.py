"""The watchdog's decisions (roles/watchdog/files/llama-watchdog), without a cluster.

The script is loaded by path, like plugin_loader does for plugins: it has no
.py suffix because it is installed as a program. The decision functions are
pure, so each case hands them observations and the previous state and checks
the action, the reason and the new state. The parsers get real `ss` output;
the HELLO client talks to a tiny fake server (and to a real ggml-rpc-server
when one is built).
"""

from __future__ import annotations

import functools
import json
import os
import plistlib
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_loader import load_program

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles" / "watchdog" / "files" / "llama-watchdog"
DATA = Path(__file__).resolve().parent / "data"
K = 3
WORKER = "192.168.100.2:50052"
HEAD = "192.168.100.1"


wd = load_program(SCRIPT, "llama_watchdog")


def head_obs(**changes: Any) -> dict[str, Any]:
    """A ready head with its worker connected whose completion answered; override what a case needs."""
    obs: dict[str, Any] = {"active": True, "unit_state": "active", "health": "ok", "lost": [], "completion": "ok"}
    obs.update(changes)
    return obs


def worker_obs(**changes: Any) -> dict[str, Any]:
    """An active, idle RPC server that answered HELLO; override what a case needs."""
    obs: dict[str, Any] = {"active": True, "unit_state": "active", "served": [], "queued": 0, "close_wait": 0, "hello": "ok"}
    obs.update(changes)
    return obs


def run_ticks(decide: Any, observations: list[dict[str, Any]], *extra: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """Feed ticks in order, each with the state the previous one returned."""
    state: dict[str, Any] = {}
    results = []
    for obs in observations:
        action, reason, state = decide(obs, state, K, *extra)
        results.append((action, reason, state))
    return results


# --- head -----------------------------------------------------------------

def test_head_healthy_resets_the_count() -> None:
    action, reason, state = wd.decide_head(head_obs(), {"failures": 2}, K)
    assert (action, state["failures"]) == ("ok", 0)
    assert reason.startswith("healthy")


def test_head_loading_is_not_a_failure() -> None:
    action, reason, state = wd.decide_head(head_obs(health="HTTP 503", now=1000.0), {"failures": 2}, K)
    assert (action, state["failures"], state["loading_since"]) == ("wait", 0, 1000.0)
    assert reason == "loading the model (/health 503) for 0 s"


def test_head_a_load_that_never_ends_is_restarted_and_timed_anew() -> None:
    """b66bfb0 waited on a 503 for ever: a hang during load was never healed."""
    loading = [head_obs(health="HTTP 503", now=1000.0 + 10 * tick) for tick in range(8)]
    results = []
    state: dict[str, Any] = {}
    for obs in loading:
        action, reason, state = wd.decide_head(obs, state, K, 30.0)
        results.append((action, reason))
    assert [action for action, _ in results] == ["wait"] * 4 + ["fail", "fail", "restart", "wait"]
    assert results[4][1] == "still loading the model (/health 503) after 40 s, longer than the load timeout of 30 s (1/3)"
    assert results[6][1].endswith("; 3 failures in a row")
    assert results[7][1] == "loading the model (/health 503) for 0 s"


def test_head_a_finished_load_forgets_its_start() -> None:
    _, _, state = wd.decide_head(head_obs(health="HTTP 503", now=1000.0), {}, K)
    _, _, state = wd.decide_head(head_obs(), state, K)
    assert "loading_since" not in state


def test_head_stopped_unit_is_left_to_its_manager() -> None:
    action, reason, state = wd.decide_head({"active": False, "unit_state": "inactive"}, {"failures": 1}, K)
    assert (action, state["failures"]) == ("wait", 0)
    assert "inactive" in reason


def test_head_busy_is_never_restarted() -> None:
    """The completion timed out, /slots answers and a slot decoded more than at the last tick."""
    before = {"failures": K - 1, "slots": {"0": [41, 300]}}
    obs = head_obs(completion="timeout", slots={"0": [41, 345]})
    action, reason, state = wd.decide_head(obs, before, K)
    assert action == "busy"
    assert "slot 0 task 41 at 345 tokens progressed" in reason
    assert state == {"failures": 0, "slots": {"0": [41, 345]}}


def test_head_a_new_task_in_a_slot_is_progress() -> None:
    obs = head_obs(completion="timeout", slots={"0": [42, 3]})
    action, _, _ = wd.decide_head(obs, {"slots": {"0": [41, 345]}}, K)
    assert action == "busy"


def test_head_hung_when_slots_does_not_answer_either() -> None:
    action, reason, state = wd.decide_head(head_obs(completion="timeout", slots="timeout"), {}, K)
    assert (action, state["failures"]) == ("fail", 1)
    assert reason == "hung: the completion timed out and /slots gave timeout (1/3)"


def test_head_hung_when_slots_shows_no_progress() -> None:
    obs = head_obs(completion="timeout", slots={"0": [41, 345]})
    action, reason, state = wd.decide_head(obs, {"failures": 1, "slots": {"0": [41, 345]}}, K)
    assert (action, state["failures"]) == ("fail", 2)
    assert "no slot progressed since the last tick (2/3)" in reason


def test_head_hung_when_no_slot_is_processing() -> None:
    action, reason, _ = wd.decide_head(head_obs(completion="timeout", slots={}), {"slots": {"0": [41, 345]}}, K)
    assert action == "fail"
    assert "no slot is processing" in reason


def test_head_worker_gone() -> None:
    action, reason, state = wd.decide_head(head_obs(lost=[WORKER]), {}, K)
    assert (action, state["failures"]) == ("fail", 1)
    assert reason == f"worker {WORKER} connection lost (1/3)"


def test_head_health_that_does_not_answer_is_a_failure() -> None:
    action, reason, _ = wd.decide_head(head_obs(health="timeout"), {}, K)
    assert (action, reason) == ("fail", "/health: timeout (1/3)")


def test_head_completion_error_is_a_failure_but_a_refused_key_is_an_alert() -> None:
    """b66bfb0 answered a refused key with a quiet wait: a wrong key disabled the watchdog unseen."""
    assert wd.decide_head(head_obs(completion="HTTP 500"), {}, K)[:2] == ("fail", "completion failed: HTTP 500 (1/3)")
    action, reason, state = wd.decide_head(head_obs(completion="HTTP 401"), {"failures": 2}, K)
    assert (action, state["failures"]) == ("alert", 0)
    assert reason.startswith("completion refused (HTTP 401): the watchdog's API key is not the head's")


def test_head_k_failures_in_a_row_restart_and_reset() -> None:
    hung = head_obs(completion="timeout", slots="timeout")
    results = run_ticks(wd.decide_head, [hung] * (K + 1))
    assert [r[0] for r in results] == ["fail", "fail", "restart", "fail"]
    assert [r[2]["failures"] for r in results] == [1, 2, 0, 1]
    assert results[2][1] == "hung: the completion timed out and /slots gave timeout; 3 failures in a row"


def test_head_a_success_breaks_the_row() -> None:
    hung = head_obs(lost=[WORKER])
    results = run_ticks(wd.decide_head, [hung, hung, head_obs(), hung, hung])
    assert [r[0] for r in results] == ["fail", "fail", "ok", "fail", "fail"]


def test_head_busy_breaks_the_row_and_stuck_slots_then_count() -> None:
    def tick(tokens: int) -> dict[str, Any]:
        return head_obs(completion="timeout", slots={"1": [7, tokens]})

    results = run_ticks(wd.decide_head, [tick(10), tick(20), tick(20), tick(20), tick(20)])
    assert [r[0] for r in results] == ["busy", "busy", "fail", "fail", "restart"]


def test_slot_progress_reads_llama_cpp_slots_json() -> None:
    """GET /slots of a real llama-server at 0c1e570 (-np 2): slot 0 idle, slot 1 generating task 2."""
    slots = json.loads((DATA / "llama-slots.json").read_text(encoding="utf-8"))
    assert wd.slot_progress(slots) == {"1": [2, 5 + 22]}
    assert wd.slot_progress({"error": "not a list"}) == {}


# --- worker ---------------------------------------------------------------

def test_worker_serving_a_head_is_healthy() -> None:
    action, reason, state = wd.decide_worker(worker_obs(served=[HEAD], hello=None), {"failures": 2}, K, [HEAD])
    assert (action, reason, state["failures"]) == ("ok", f"serving head {HEAD}", 0)


def test_worker_a_client_waiting_behind_a_served_head_address_is_wedged() -> None:
    """A stalled client from the head's address holds the slot, the head's own connection queued behind it:
    b66bfb0 called that healthy, and neither watchdog acted."""
    blinded = worker_obs(served=[HEAD], queued=1, hello=None)
    results = run_ticks(wd.decide_worker, [blinded] * K, [HEAD])
    assert [action for action, _, _ in results] == ["fail", "fail", "restart"]
    assert results[0][1] == f"1 connection(s) wait behind the served {HEAD}: the one client slot is held while a client waits (1/3)"


def test_worker_serving_a_head_with_a_full_accept_queue_fails() -> None:
    """The queue the fourth `make lab` found: a head served, two probes waiting behind a backlog of one."""
    obs = worker_obs(served=[HEAD], queued=2, close_wait=2, backlog=1, hello=None)
    action, reason, state = wd.decide_worker(obs, {}, K, [HEAD])
    assert (action, state["failures"]) == ("fail", 1)
    assert reason == ("accept queue full: 2 connection(s) waiting to be accepted, backlog 1, 2 in CLOSE-WAIT; "
                      f"a new client cannot connect (serving: {HEAD}) (1/3)")
    assert wd.decide_worker(dict(obs, queued=0, close_wait=0), {}, K, [HEAD])[0] == "ok"


def test_listen_backlog_linux_and_macos() -> None:
    assert wd.listen_backlog(SS_WORKER, WORKER) == 1
    listen = "Current listen queue sizes (qlen/incqlen/maxqlen)\nListen         Local Address\n2/0/1          192.168.100.2.50052\n"
    assert wd.listen_backlog(listen, WORKER) == 1
    assert wd.listen_backlog("", WORKER) is None


@pytest.mark.parametrize(("close_wait", "queued"), [(2, 0), (0, 1), (1, 2)])
def test_worker_wedged_without_a_head(close_wait: int, queued: int) -> None:
    obs = worker_obs(close_wait=close_wait, queued=queued, hello=None)
    action, reason, state = wd.decide_worker(obs, {}, K, [HEAD])
    assert (action, state["failures"]) == ("fail", 1)
    assert reason == (f"wedged: {close_wait} connection(s) in CLOSE-WAIT, {queued} waiting to be accepted, "
                      "no head served (serving: nobody) (1/3)")


def test_worker_that_stopped_accepting() -> None:
    obs = worker_obs(hello="no answer within 20 s")
    action, reason, _ = wd.decide_worker(obs, {}, K, [HEAD])
    assert (action, reason) == ("fail", "does not accept/serve: HELLO no answer within 20 s (1/3)")


def test_worker_idle_and_answering() -> None:
    action, reason, state = wd.decide_worker(worker_obs(), {"failures": 1}, K, [HEAD])
    assert (action, reason, state["failures"]) == ("ok", "idle, answered HELLO", 0)


def test_worker_serving_someone_else_is_left_alone() -> None:
    action, reason, _ = wd.decide_worker(worker_obs(served=["192.168.100.9"], hello=None), {}, K, [HEAD])
    assert (action, reason) == ("wait", "serving 192.168.100.9, not a head; not probed")


def test_worker_foreign_client_blocking_a_queued_head_is_wedged() -> None:
    action, reason, _ = wd.decide_worker(worker_obs(served=["192.168.100.9"], queued=1, hello=None), {}, K, [HEAD])
    assert action == "fail"
    assert "(serving: 192.168.100.9)" in reason


def test_worker_stopped_unit_is_left_to_its_manager() -> None:
    obs = {"active": False, "unit_state": "failed", "served": [], "queued": 0, "close_wait": 0}
    assert wd.decide_worker(obs, {"failures": 2}, K, [HEAD])[0] == "wait"
    assert not wd.needs_hello(obs)


@pytest.mark.parametrize(
    ("changes", "probe"),
    [({}, True), ({"served": [HEAD]}, False), ({"queued": 1}, False), ({"close_wait": 1}, False)],
)
def test_worker_probes_only_an_idle_server(changes: dict[str, Any], probe: bool) -> None:
    assert wd.needs_hello(worker_obs(**changes)) is probe


def test_worker_k_failures_in_a_row_restart_and_reset() -> None:
    wedged = worker_obs(close_wait=1, hello=None)
    results = run_ticks(wd.decide_worker, [wedged, wedged, worker_obs(), wedged, wedged, wedged, wedged], [HEAD])
    assert [r[0] for r in results] == ["fail", "fail", "ok", "fail", "fail", "restart", "fail"]
    assert [r[2]["failures"] for r in results] == [1, 2, 0, 1, 2, 0, 1]


# --- parsers --------------------------------------------------------------

# `ss -Htanp '( sport = :50999 )'` against a real ggml-rpc-server: one client
# accepted (it has the process), two waiting in the accept queue (no process
# yet, listen Recv-Q 2), one of them closed by its client (CLOSE-WAIT).
SS_WORKER = """\
LISTEN     2      1      192.168.100.2:50052   0.0.0.0:*     users:(("ggml-rpc-server",pid=26300,fd=3))
ESTAB      0      0      192.168.100.2:50052   192.168.100.1:38086 users:(("ggml-rpc-server",pid=26300,fd=4))
ESTAB      33     0      192.168.100.2:50052   192.168.100.9:38094
CLOSE-WAIT 34     0      192.168.100.2:50052   192.168.100.9:38112
ESTAB      0      0      10.0.0.5:50052        10.0.0.7:40000 users:(("other",pid=1,fd=5))
"""


def test_parse_ss_tells_accepted_from_queued() -> None:
    assert wd.parse_ss(SS_WORKER, WORKER) == (["192.168.100.1"], 2, 1)
    assert wd.parse_ss("", WORKER) == ([], 0, 0)


def test_parse_ss_without_owners_counts_every_connection_as_served() -> None:
    # Without CAP_SYS_PTRACE, ss -p shows no process at all, the listener's included.
    blind = "\n".join(line.split(" users:")[0] for line in SS_WORKER.splitlines())
    assert wd.parse_ss(blind, WORKER) == (["192.168.100.1", "192.168.100.9"], 2, 1)


def test_parse_darwin() -> None:
    lsof = "p812\nf7\nn192.168.100.2:50052->192.168.100.1:61234\nf9\nn192.168.100.1:61234->192.168.100.2:50052\n"
    netstat = (
        "Active Internet connections (including servers)\n"
        "Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n"
        "tcp4       0      0  192.168.100.2.50052    192.168.100.1.61234    ESTABLISHED\n"
        "tcp4      33      0  192.168.100.2.50052    192.168.100.9.50111    CLOSE_WAIT\n"
        "tcp4       0      0  192.168.100.2.50052    *.*                    LISTEN\n"
    )
    listen = "Current listen queue sizes (qlen/incqlen/maxqlen)\nListen         Local Address\n1/0/1          192.168.100.2.50052\n"
    assert wd.parse_darwin(lsof, netstat, listen, WORKER) == (["192.168.100.1"], 1, 1)


def test_established_peers_linux_and_macos() -> None:
    ss = "0      0      192.168.100.1:41234 192.168.100.2:50052\n0 0 127.0.0.1:9999 127.0.0.1:5555\n"
    netstat = "tcp4  0  0  192.168.100.1.61234  192.168.100.2.50052  ESTABLISHED\ntcp4 0 0 *.9999 *.* LISTEN\n"
    assert wd.established_peers(ss) == [WORKER, "127.0.0.1:5555"]
    assert wd.established_peers(netstat) == [WORKER]


# --- the HELLO client -----------------------------------------------------

def _fake_server(reply: bytes | None) -> tuple[socket.socket, int]:
    """A listening socket that answers one HELLO with `reply`, or never accepts (None)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            request = conn.recv(64)
            if request[:9] == struct.pack("<BQ", 14, 24):
                conn.sendall(reply or b"")

    if reply is not None:
        threading.Thread(target=serve, daemon=True).start()
    return server, int(server.getsockname()[1])


def test_hello_accepts_a_28_byte_reply() -> None:
    server, port = _fake_server(struct.pack("<Q", 28) + bytes([7, 0, 0, 0]) + bytes(24))
    with server:
        assert wd.hello("127.0.0.1", port, 2) == "ok"


def test_hello_times_out_on_a_server_that_does_not_accept() -> None:
    server, port = _fake_server(None)
    with server:
        started = time.monotonic()
        assert wd.hello("127.0.0.1", port, 0.5) == "no answer within 0.5 s"
        assert time.monotonic() - started < 2


def test_hello_refuses_a_wrong_reply() -> None:
    server, port = _fake_server(struct.pack("<Q", 3) + b"abc")
    with server:
        assert wd.hello("127.0.0.1", port, 2).startswith("failed:")


def test_hello_connection_refused() -> None:
    server, port = _fake_server(None)
    server.close()
    assert wd.hello("127.0.0.1", port, 1).startswith("failed:")


@pytest.fixture()
def rpc_server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real ggml-rpc-server on loopback, when one is built (as test_rpc_probe finds it): port and process."""
    binary = Path(os.environ.get("LLAMA_RPC_SERVER", str(ROOT / "build" / "host" / "bin" / "ggml-rpc-server")))
    if not os.access(binary, os.X_OK) or not shutil.which("ss"):
        pytest.skip(f"no ggml-rpc-server at {binary} (set LLAMA_RPC_SERVER), or no ss")
    port = _free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=str(binary.parent))
    proc = subprocess.Popen([str(binary), "--host", "127.0.0.1", "--port", str(port), "--threads", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while wd.hello("127.0.0.1", port, 1) != "ok":
            assert proc.poll() is None and time.monotonic() < deadline, "ggml-rpc-server did not start"
            time.sleep(0.2)
        yield port, proc
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_real_server_busy_probe_times_out_and_the_server_survives(rpc_server: tuple[int, Any]) -> None:
    """While a client holds the server, HELLO waits in the queue; the reset leaves the server alive."""
    port, _ = rpc_server
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(struct.pack("<BQ", 14, 24) + bytes(24))
        assert len(client.recv(36)) >= 8
        assert wd.hello("127.0.0.1", port, 0.5) == "no answer within 0.5 s"
        listing = subprocess.run(["ss", "-Htanp", f"( sport = :{port} )"], capture_output=True, text=True,
                                 check=False).stdout
        served, _, _ = wd.parse_ss(listing, f"127.0.0.1:{port}")
        assert served == ["127.0.0.1"]
    for _ in range(5):
        assert wd.hello("127.0.0.1", port, 5) == "ok"


@functools.cache
def _lab_model() -> Path:
    """The lab's real model, assembled once from its PyPI package (requirements.txt) into build/models."""
    from gguf_fixtures import lab_model

    folder = ROOT / "build" / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return lab_model(folder)


def test_real_head_busy_then_hung(rpc_server: tuple[int, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-server over RPC: a long generation is busy; with its worker stopped (SIGSTOP) it is hung.

    At 0c1e570 llama-server yields to its task queue while it decodes and still
    answers /slots then (server-context.cpp:2358, 3659-3666): /slots answering
    does not prove progress, only a growing count does.
    """
    # The host tools' llama-server (scripts/build-host-tools.sh) and the lab's model, unless given.
    server = os.environ.get("LLAMA_SERVER", str(ROOT / "build" / "host" / "bin" / "llama-server"))
    if not os.access(server, os.X_OK):
        pytest.skip(f"no llama-server at {server}: run `make host-tools` or set LLAMA_SERVER")
    model = os.environ.get("LLAMA_MODEL") or str(_lab_model())
    rpc_port, rpc = rpc_server
    url = f"http://127.0.0.1:{_free_port()}"
    env = dict(os.environ, LD_LIBRARY_PATH=str(Path(server).parent))
    head = subprocess.Popen([server, "-m", model, "--rpc", f"127.0.0.1:{rpc_port}", "-ngl", "99", "-np", "1", "-t", "1",
                             "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monkeypatch.setattr(wd, "unit_state", lambda unit, darwin: (head.poll() is None, "active"))
    args = wd.parse_args(["head", "--url", url, "--endpoint", f"127.0.0.1:{rpc_port}", "--unit", "llama-server.service",
                          "--timeout", "2", "--failures", str(K)])
    state: dict[str, Any] = {}

    def tick() -> tuple[str, str]:
        nonlocal state
        action, reason, state = wd.decide_head(wd.observe_head(args, False, ""), state, K)
        return action, reason

    def generate() -> None:
        body = json.dumps({"prompt": "Once upon a time", "n_predict": 4000, "ignore_eos": True}).encode()
        try:
            request = urllib.request.Request(f"{url}/completion", data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=600).read()
        except OSError:
            pass  # the test ends by killing the server

    try:
        deadline = time.monotonic() + 120
        while wd.http(f"{url}/health", 2, "")[0] != "ok":
            assert head.poll() is None and time.monotonic() < deadline, "llama-server did not get ready"
            time.sleep(0.5)
        assert tick()[0] == "ok"
        threading.Thread(target=generate, daemon=True).start()
        time.sleep(1)
        assert [tick()[0], tick()[0]] == ["busy", "busy"]
        rpc.send_signal(signal.SIGSTOP)
        time.sleep(0.5)
        ticks = [tick() for _ in range(K + 1)]  # the first may still see the last tokens arrive
        actions = [action for action, _ in ticks]
        assert actions in (["fail", "fail", "restart", "fail"], ["busy", "fail", "fail", "restart"]), ticks
        assert ticks[actions.index("restart")][1] == (
            "hung: the completion timed out and /slots answers, but no slot progressed since the last tick; "
            "3 failures in a row")
    finally:
        rpc.send_signal(signal.SIGCONT)
        head.kill()
        head.wait()


# --- the role: what it installs runs the CLI above ------------------------

HEAD_VARS = {"watchdog_mode": "head", "watchdog_endpoints": [WORKER, "192.168.100.3:50053"], "watchdog_api_key": "k"}
WORKER_VARS = {"watchdog_mode": "worker", "watchdog_address": "192.168.100.2", "watchdog_heads": [HEAD]}
HEAD_ARGV = ["--url", "http://127.0.0.1:9999", "--endpoint", WORKER, "--endpoint", "192.168.100.3:50053",
             "--api-key-file", "/var/lib/llama-watchdog/head.api-key", "--load-timeout", "600"]


@functools.lru_cache(maxsize=1)
def _ansible() -> tuple[Any, Any, Any]:
    """Ansible's DataLoader, Templar and trust_as_template, with its plugin loader set up once."""
    pytest.importorskip("ansible")
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar, trust_as_template

    init_plugin_loader()
    return DataLoader, Templar, trust_as_template


def _render(template: str, system: str, role_vars: dict[str, Any]) -> str:
    """Render a role template with Ansible's Templar: defaults, vars, then the caller's inputs."""
    data_loader, templar, trust = _ansible()
    loader = data_loader()
    variables: dict[str, Any] = {}
    for path in ("defaults/main.yml", "vars/main.yml"):
        for key, value in loader.load_from_file(str(ROOT / "roles" / "watchdog" / path)).items():
            variables[key] = trust(value) if isinstance(value, str) else value
    variables.update(role_vars, ansible_facts={"system": system}, ansible_managed="Ansible managed")
    text = (ROOT / "roles" / "watchdog" / "templates" / template).read_text(encoding="utf-8")
    return str(templar(loader=loader, variables=variables).template(trust(text)))


def _unit_argv(unit: str) -> list[str]:
    line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    return [arg.replace("%%", "%").replace("$$", "$") for arg in shlex.split(line.removeprefix("ExecStart="))]


@pytest.mark.parametrize(
    ("role_vars", "expected"),
    [
        (HEAD_VARS, ["head", *HEAD_ARGV, "--unit", "llama-server.service"]),
        (WORKER_VARS, ["worker", "--address", "192.168.100.2", "--port", "50052", "--head", HEAD,
                       "--unit", "llama-rpc-server.service"]),
    ],
)
def test_the_systemd_service_runs_the_cli(role_vars: dict[str, Any], expected: list[str]) -> None:
    unit = _render("llama-watchdog.service.j2", "Linux", role_vars)
    argv = _unit_argv(unit)
    mode = role_vars["watchdog_mode"]
    assert argv == ["/usr/bin/python3", "/usr/local/libexec/llama-watchdog/llama-watchdog", *expected,
                    "--timeout", "20", "--failures", "3", "--state", f"/var/lib/llama-watchdog/{mode}.json"]
    args = wd.parse_args(argv[2:])
    assert (args.mode, args.timeout, args.failures) == (mode, 20.0, 3)
    assert "Type=oneshot" in unit.splitlines()
    assert "TimeoutStartSec=110" in unit.splitlines()


def test_the_timer_ticks_every_interval_from_boot() -> None:
    timer = _render("llama-watchdog.timer.j2", "Linux", dict(WORKER_VARS, watchdog_interval=7)).splitlines()
    assert timer[0] == "#"
    assert {"OnActiveSec=7", "OnUnitActiveSec=7", "AccuracySec=1s", "Unit=llama-watchdog-worker.service",
            "WantedBy=timers.target"} <= set(timer)


# --- the macOS branch against the command simulator (tests/macsim) --------

MACSIM = ROOT / "tests" / "macsim"


def _play(root: Path, role_vars: dict[str, Any], check: bool = False) -> dict[str, Any]:
    """Run the role on localhost as a simulated Mac; returns the json callback's report."""
    playbook_bin = Path(sys.executable).parent / "ansible-playbook"
    if not playbook_bin.exists() or os.geteuid() != 0:
        pytest.skip("needs ansible-playbook next to this Python, and root (the role writes root-owned files)")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Look like the Mac", "macsim_facts": {"state_path": str(root / "macsim.json"),
                                                        "simulator": str(MACSIM / "macsim.py"),
                                                        "ifconfig_path": str(root / "bin" / "ifconfig")}},
        {"name": "Run the role", "ansible.builtin.include_role": {"name": "watchdog"}, "vars": role_vars},
    ]}]
    (root / "play.yml").write_text(json.dumps(play), encoding="utf-8")
    paths = {"__watchdog_libexec_dir": root / "libexec", "__watchdog_state_dir": root / "lib",
             "__watchdog_log_dir": root / "log", "__watchdog_newsyslog": root / "newsyslog.d" / "llama-watchdog.conf",
             "__watchdog_launchd_dir": root / "LaunchDaemons", "__watchdog_path": f"{root / 'bin'}:/usr/bin:/bin",
             "__watchdog_python": sys.executable}
    env = dict(os.environ, PATH=f"{root / 'bin'}:{os.environ['PATH']}", MACSIM_STATE=str(root / "macsim.json"),
               ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_LIBRARY=f"{ROOT / 'plugins' / 'modules'}:{MACSIM / 'library'}",
               ANSIBLE_MODULE_UTILS=str(ROOT / "plugins" / "module_utils"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_LOCAL_TEMP=str(root / "tmp"), HOME=str(root))
    env.pop("ANSIBLE_CONFIG", None)
    argv = [str(playbook_bin), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
            "-e", json.dumps({key: str(value) for key, value in paths.items()}), str(root / "play.yml")]
    result = subprocess.run(argv + (["--check"] if check else []), env=env, cwd=root, capture_output=True,
                            text=True, check=False)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["stats"]["localhost"]["failures"] == 0, result.stdout[-4000:]
    return report


@pytest.fixture()
def mac(tmp_path: Path) -> Path:
    """A bin directory with the simulator's launchctl and ifconfig, and stand-ins for netstat and lsof."""
    (tmp_path / "bin").mkdir()
    for folder in ("newsyslog.d", "LaunchDaemons"):  # /etc/newsyslog.d, /Library/LaunchDaemons: on every Mac
        (tmp_path / folder).mkdir()
    for tool in ("launchctl", "ifconfig"):
        (tmp_path / "bin" / tool).symlink_to(MACSIM / "macsim.py")
    for tool in ("netstat", "lsof"):
        (tmp_path / "bin" / tool).write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
        (tmp_path / "bin" / tool).chmod(0o755)
    return tmp_path


def _launchctl(mac: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MACSIM_STATE=str(mac / "macsim.json"))
    return subprocess.run([sys.executable, str(mac / "bin" / "launchctl"), *args], env=env, capture_output=True,
                          text=True, check=False)


def test_macos_job_is_loaded_once_and_removed(mac: Path) -> None:
    label = "org.ggml.llama-watchdog-head"
    first = _play(mac, HEAD_VARS)
    assert first["stats"]["localhost"]["changed"] > 0
    plist = plistlib.loads((mac / "LaunchDaemons" / f"{label}.plist").read_bytes())
    assert (plist["Label"], plist["StartInterval"], plist["RunAtLoad"]) == (label, 10, True)
    assert plist["ProgramArguments"][3:] == [*HEAD_ARGV[:6], "--api-key-file", str(mac / "lib" / "head.api-key"),
                                             "--load-timeout", "600", "--unit", "org.ggml.llama-server", "--timeout", "20", "--failures",
                                             "3", "--state", str(mac / "lib" / "head.json")]
    assert plist["StandardOutPath"] == str(mac / "log" / "head.log")
    assert wd.parse_args(plist["ProgramArguments"][2:]).unit == "org.ggml.llama-server"
    key = mac / "lib" / "head.api-key"
    assert (key.read_text(encoding="utf-8"), oct(key.stat().st_mode & 0o777)) == ("k\n", "0o600")
    rotation = mac / "newsyslog.d" / "llama-watchdog.conf"
    assert oct(rotation.stat().st_mode & 0o777) == "0o640"
    assert f"{mac / 'log'}/*.log" in rotation.read_text(encoding="utf-8")
    runs = _launchctl(mac, "print", f"system/{label}").stdout

    assert _play(mac, HEAD_VARS)["stats"]["localhost"]["changed"] == 0
    assert _play(mac, HEAD_VARS, check=True)["stats"]["localhost"]["changed"] == 0
    assert _launchctl(mac, "print", f"system/{label}").stdout == runs

    assert _play(mac, dict(HEAD_VARS, watchdog_interval=30), check=True)["stats"]["localhost"]["changed"] > 0
    assert plistlib.loads((mac / "LaunchDaemons" / f"{label}.plist").read_bytes())["StartInterval"] == 10
    assert _play(mac, dict(HEAD_VARS, watchdog_interval=30))["stats"]["localhost"]["changed"] > 0
    assert plistlib.loads((mac / "LaunchDaemons" / f"{label}.plist").read_bytes())["StartInterval"] == 30
    assert _launchctl(mac, "print", f"system/{label}").returncode == 0

    assert _play(mac, dict(HEAD_VARS, watchdog_state="absent"))["stats"]["localhost"]["changed"] > 0
    assert _launchctl(mac, "print", f"system/{label}").returncode == 113
    assert not any(path.exists() for path in (mac / "LaunchDaemons" / f"{label}.plist", key, rotation, mac / "libexec"))


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own root, and its key (as llama_server makes one)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "head")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "api.crt", tmp / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_http_verifies_https_against_the_given_certificate(tmp_path: Path) -> None:
    """The head's watchdog over TLS: it trusts --ca-file, and nothing else unless the system store does."""
    import http.server
    import ssl

    cert, key = _self_signed(tmp_path)

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/health"
    try:
        assert wd.http(url, 5, "", ca_file=str(cert)) == ("ok", {"status": "ok"})
        status, _ = wd.http(url, 5, "")
        assert status.startswith("error:") and "CERTIFICATE_VERIFY_FAILED" in status
        args = wd.parse_args(["head", "--url", url.rsplit("/", 1)[0], "--endpoint", WORKER, "--ca-file", str(cert),
                              "--unit", "llama-server.service", "--timeout", "2", "--failures", str(K)])
        assert args.ca_file == str(cert)
    finally:
        server.shutdown()
