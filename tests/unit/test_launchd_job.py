"""launchd_job (plugins/module_utils/launchd.py) against the macOS simulator.

The simulator keeps a booted-out label for ``bootout_linger_s`` seconds, as
launchd does, and answers a bootstrap meanwhile with errno 5. The first test
shows that the plain bootout-then-bootstrap the roles ran before fails there.
"""

from __future__ import annotations

import subprocess
import time

import pytest
from launchd import Launchctl, LaunchdError, converge
from test_macsim import Mac, print_field

LABEL = "org.ggml.llama-server"


@pytest.fixture
def mac(tmp_path) -> Mac:
    simulated = Mac(tmp_path)
    simulated.edit_state("launchd", bootout_linger_s=1.0)
    return simulated


def ctl_for(mac: Mac, timeout: float = 10.0) -> Launchctl:
    def run(argv: list[str]) -> tuple[int, str, str]:
        done = subprocess.run([str(mac.bin / argv[0]), *argv[1:]], env=mac.env,
                              capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    return Launchctl(run, LABEL, timeout=timeout, poll=0.2)


def job(mac: Mac) -> str:
    return mac.ok("launchctl", "print", f"system/{LABEL}")


def daemon(mac: Mac) -> str:
    return str(mac.write_plist(LABEL, RunAtLoad=True, KeepAlive=True))


def test_bootout_then_bootstrap_at_once_fails_while_the_label_lingers(mac: Mac) -> None:
    plist = daemon(mac)
    mac.ok("launchctl", "bootstrap", "system", plist)
    mac.ok("launchctl", "bootout", f"system/{LABEL}")
    assert mac.run("launchctl", "bootstrap", "system", plist).returncode == 5


def test_load_once_then_nothing_to_do(mac: Mac) -> None:
    plist = daemon(mac)
    first = converge(ctl_for(mac), plist)
    assert first.actions == ["bootstrap"]
    assert first.state.running and first.state.pid is not None
    again = converge(ctl_for(mac), plist)
    assert again.actions == [] and again.state.pid == first.state.pid


def test_reload_waits_for_the_label_to_leave(mac: Mac) -> None:
    plist = daemon(mac)
    converge(ctl_for(mac), plist)
    old_pid = print_field(job(mac), "pid")
    outcome = converge(ctl_for(mac), plist, reload=True)
    assert outcome.actions == ["bootout", "bootstrap"]
    assert outcome.waited_s >= 0.8
    printed = job(mac)
    assert print_field(printed, "state") == "running"
    assert print_field(printed, "runs") == "1"
    assert print_field(printed, "pid") != old_pid


def test_pause_and_resume_really_load_the_job_again(mac: Mac) -> None:
    plist = daemon(mac)
    converge(ctl_for(mac), plist)
    assert converge(ctl_for(mac), plist, state="stopped").actions == ["bootout"]
    assert mac.run("launchctl", "print", f"system/{LABEL}").returncode == 113
    resumed = converge(ctl_for(mac), plist)
    assert resumed.actions == ["bootstrap"] and resumed.state.running


def test_a_label_still_leaving_is_loaded_again(mac: Mac) -> None:
    """Booted out by someone else a moment ago: print still shows it, kickstart says 113."""
    plist = daemon(mac)
    converge(ctl_for(mac), plist)
    mac.ok("launchctl", "bootout", f"system/{LABEL}")
    outcome = converge(ctl_for(mac), plist)
    assert outcome.actions == ["kickstart", "bootstrap"]
    assert print_field(job(mac), "state") == "running"


def test_restart_is_kickstart_k(mac: Mac) -> None:
    plist = daemon(mac)
    first = converge(ctl_for(mac), plist)
    outcome = converge(ctl_for(mac), plist, restart=True)
    assert outcome.actions == ["kickstart"]
    assert outcome.state.pid != first.state.pid
    assert print_field(job(mac), "runs") == "2"


def test_an_interval_job_between_ticks_is_left_alone(mac: Mac) -> None:
    plist = str(mac.write_plist(LABEL, StartInterval=10))
    converge(ctl_for(mac), plist, keep_running=False)
    assert converge(ctl_for(mac), plist, keep_running=False).actions == []


def test_a_label_that_never_leaves_fails_by_name(mac: Mac) -> None:
    plist = daemon(mac)
    converge(ctl_for(mac), plist)
    mac.edit_state("launchd", bootout_linger_s=30)
    started = time.monotonic()
    with pytest.raises(LaunchdError, match=f"system/{LABEL} was still registered 1 s after bootout"):
        converge(ctl_for(mac, timeout=1.0), plist, reload=True)
    assert time.monotonic() - started < 5


def test_check_mode_changes_nothing(mac: Mac) -> None:
    plist = daemon(mac)
    outcome = converge(ctl_for(mac), plist, check_mode=True)
    assert outcome.actions == ["bootstrap"]
    assert mac.run("launchctl", "print", f"system/{LABEL}").returncode == 113
