"""The lab's cable plugger (tests/lab/roles/lab/files/lab-cable), on real namespaces.

Each "container" here is a process in a network namespace of its own
(`unshare --net`), which is all the tool needs of one: a pid. The direct
cable's peer is found from runc state files, written here as runc writes
them. The cases plug, re-plug after a "reboot" (a new namespace), and check
a second run changes nothing. Needs root, ip, tc and unshare, as the lab does.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_loader import load_program

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "lab" / "roles" / "lab" / "files" / "lab-cable"
SHAPE = {"rate": "10gbit", "burst": "2mb", "latency": "5ms"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("ip", "tc", "unshare", "nsenter")),
    reason="needs root, ip, tc, unshare and nsenter (the lab's own needs)",
)


cable = load_program(SCRIPT, "lab_cable")


class Host:
    """A process in a network namespace of its own: a lab container, as the tool sees one."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        for _ in range(50):  # until unshare has exec'd sleep in the new namespace
            if os.readlink(f"/proc/{self.proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.05"], check=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def links(self) -> str:
        return subprocess.run(["nsenter", f"--net=/proc/{self.pid}/ns/net", "ip", "-o", "link"],
                              capture_output=True, text=True, check=True).stdout

    def qdisc(self, dev: str) -> str:
        return subprocess.run(["nsenter", f"--net=/proc/{self.pid}/ns/net", "tc", "qdisc", "show", "dev", dev],
                              capture_output=True, text=True, check=True).stdout

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    made: list[Host] = []

    class Factory(list):
        def new(self) -> Host:
            host = Host()
            made.append(host)
            return host

    yield Factory()  # type: ignore[misc]
    for host in made:
        host.stop()


def _runc_state(root: Path, pid: int, name: str) -> None:
    """What runc keeps for a running container: its init pid and its bundle, whose spec has the annotation."""
    bundle = root / f"bundle-{name}"
    bundle.mkdir(exist_ok=True)
    (bundle / "config.json").write_text(json.dumps({"annotations": {cable.PREFIX + "name": name, "other": "x"}}))
    state = root / f"state-{name}"
    state.mkdir(exist_ok=True)
    (state / "state.json").write_text(json.dumps({"init_process_pid": pid, "config": {"labels": [f"bundle={bundle}"]}}))


def test_direct_cable_is_plugged_shaped_and_replugged_after_a_reboot(hosts, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cable, "RUNC_STATES", str(tmp_path / "state-*" / "state.json"))
    worker, head = hosts.new(), hosts.new()
    spec = {"name": "lab-worker", "dev": "enP7s7", "peer": "lab-head", "peer_dev": "en0", **SHAPE}

    # The head is not running yet (no runc state): the worker's start leaves the cable to the head's.
    assert cable.plug(worker.pid, spec) == []
    _runc_state(tmp_path, head.pid, "lab-head")

    changed = cable.plug(worker.pid, spec)
    assert changed[0] == "plugged lab-worker:enP7s7 to lab-head:en0"
    assert "enP7s7" in worker.links() and "en0" in head.links()
    assert "tbf" in worker.qdisc("enP7s7") and "tbf" in head.qdisc("en0")
    assert cable.plug(worker.pid, spec) == []  # in place: nothing to do

    # The reboot: the old namespace and the cable die with it, the peer's end
    # a moment later (the kernel cleans namespaces up asynchronously); the
    # new start re-plugs either way.
    worker.stop()
    worker = hosts.new()
    assert cable.plug(worker.pid, spec)[0] == "plugged lab-worker:enP7s7 to lab-head:en0"
    assert "enP7s7" in worker.links() and "en0" in head.links()


def test_switch_port_is_plugged_shaped_and_replugged(hosts) -> None:
    bridge = f"labt{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        worker = hosts.new()
        spec = {"name": "lab-worker", "dev": "enP7s7", "bridge": bridge, "port": f"lpt{os.getpid() % 100000}",
                "mtu": "9216", **SHAPE}
        changed = cable.plug(worker.pid, spec)
        assert changed[0].startswith("plugged lab-worker:enP7s7 into " + bridge)
        port = subprocess.run(["ip", "-o", "link", "show", "dev", spec["port"]], capture_output=True, text=True,
                              check=True).stdout
        assert f"master {bridge}" in port and "mtu 9216" in port
        assert "tbf" in worker.qdisc("enP7s7")
        assert cable.plug(worker.pid, spec) == []

        worker.stop()
        worker = hosts.new()
        assert cable.plug(worker.pid, spec)[0].startswith("plugged lab-worker:enP7s7 into " + bridge)
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=False)


def test_hook_without_the_annotations_does_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"pid": 1, "annotations": {"io.podman.x": "y"}})))
    assert cable.main() == 0
    assert json.loads(capsys.readouterr().out) == {"changed": []}


def test_annotations_name_the_cable() -> None:
    assert cable.cable_of({"io.llamalab.cable.dev": "en0", "io.llamalab.cable.peer": "lab-worker", "io.podman.x": "y"}) == {
        "dev": "en0", "peer": "lab-worker"}
