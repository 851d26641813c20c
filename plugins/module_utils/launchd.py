"""Load, reload and restart a launchd job without racing launchd.

``launchctl bootout`` returns before launchd has let go of the label: it
sends SIGTERM and schedules the job's cleanup, and until that has run a
``bootstrap`` of the same label fails with ``Bootstrap failed: 5:
Input/output error`` (about 5 s measured in headroomlabs-ai/headroom#1289;
the fixes in rossoctl/cortex#880 and tuist/tuist#10143). So every unload here
waits until ``launchctl print`` no longer knows the label, and every load
retries errno 5 for a bounded time. A ``kickstart`` that finds no job (113)
means the job is gone, not loaded: it is bootstrapped again.

Pure Python, importable without Ansible: ``plugins/modules/launchd_job.py``
wraps it, and ``tests/unit/test_launchd_job.py`` runs it against the macOS
simulator.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

# (rc, stdout, stderr) of one command line.
Runner = Callable[[list[str]], tuple[int, str, str]]

NOT_FOUND = 113      # print/kickstart: no such job in the domain
NO_SUCH_PROCESS = 3  # bootout: not loaded
EIO = 5              # bootstrap: the label is still registered (or a bad plist)


class LaunchdError(Exception):
    """A launchctl step failed; the message names the job and what launchd said."""


@dataclass
class JobState:
    loaded: bool
    running: bool
    pid: int | None


@dataclass
class Outcome:
    actions: list[str] = field(default_factory=list)
    waited_s: float = 0.0
    state: JobState = field(default_factory=lambda: JobState(False, False, None))

    @property
    def changed(self) -> bool:
        return bool(self.actions)


class Launchctl:
    """launchctl for one job in one domain (``system`` for a LaunchDaemon)."""

    def __init__(self, run: Runner, label: str, domain: str = "system", *,
                 timeout: float = 30.0, poll: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run = run
        self.label = label
        self.domain = domain
        self.timeout = timeout
        self.poll = poll
        self.sleep = sleep
        self.clock = clock

    @property
    def target(self) -> str:
        return f"{self.domain}/{self.label}"

    def _fail(self, step: str, rc: int, err: str) -> LaunchdError:
        return LaunchdError(f"launchctl {step} {self.target} failed with {rc}: {err.strip()}")

    def state(self) -> JobState:
        rc, out, err = self.run(["launchctl", "print", self.target])
        if rc == NOT_FOUND:
            return JobState(False, False, None)
        if rc != 0:
            raise self._fail("print", rc, err)
        pid = re.search(r"^\s*pid = (\d+)$", out, re.MULTILINE)
        running = re.search(r"^\s*state = running$", out, re.MULTILINE) is not None
        return JobState(True, running, int(pid.group(1)) if pid else None)

    def disabled(self) -> bool:
        rc, out, err = self.run(["launchctl", "print-disabled", self.domain])
        if rc != 0:
            raise self._fail("print-disabled", rc, err)
        return re.search(rf'"{re.escape(self.label)}" => (disabled|true)', out) is not None

    def enable(self) -> None:
        rc, _, err = self.run(["launchctl", "enable", self.target])
        if rc != 0:
            raise self._fail("enable", rc, err)

    def wait_gone(self) -> float:
        """Wait until launchd no longer knows the label; the seconds waited."""
        start = self.clock()
        while self.state().loaded:
            if self.clock() - start >= self.timeout:
                raise LaunchdError(f"{self.target} was still registered {self.timeout:g} s after bootout")
            self.sleep(self.poll)
        return self.clock() - start

    def bootout(self) -> float:
        rc, _, err = self.run(["launchctl", "bootout", self.target])
        if rc not in (0, NO_SUCH_PROCESS):
            raise self._fail("bootout", rc, err)
        return self.wait_gone()

    def bootstrap(self, plist: str) -> float:
        """Load the plist, riding out a label that is still leaving; the seconds waited."""
        start = self.clock()
        while True:
            rc, _, err = self.run(["launchctl", "bootstrap", self.domain, plist])
            if rc == 0:
                return self.clock() - start
            if rc != EIO or self.clock() - start >= self.timeout:
                raise LaunchdError(
                    f"launchctl bootstrap {self.domain} {plist} failed with {rc}: {err.strip()}"
                    + (f" (still {rc} after {self.timeout:g} s)" if rc == EIO else ""))
            self.sleep(self.poll)

    def kickstart(self, kill: bool) -> bool:
        """Start (or with kill, restart) the loaded job; False when launchd has no such job."""
        rc, _, err = self.run(["launchctl", "kickstart"] + (["-k"] if kill else []) + [self.target])
        if rc == NOT_FOUND:
            return False
        if rc != 0:
            raise self._fail("kickstart", rc, err)
        return True


def converge(ctl: Launchctl, plist: str, *, state: str = "started", reload: bool = False,
             restart: bool = False, keep_running: bool = True, check_mode: bool = False) -> Outcome:
    """Bring the job to ``state`` (started or stopped).

    reload: the plist changed, so a loaded job is booted out and bootstrapped
    again (launchd reads a plist only when it loads it). restart: kickstart -k
    a running job. keep_running: a loaded job that is not running is started
    (a KeepAlive daemon); False for a job that runs on its interval.
    """
    outcome = Outcome()
    now = ctl.state()
    outcome.state = now

    def act(name: str, step: Callable[[], object]) -> object:
        outcome.actions.append(name)
        return None if check_mode else step()

    if state == "stopped":
        if now.loaded:
            outcome.waited_s += float(act("bootout", ctl.bootout) or 0.0)
    else:
        if ctl.disabled():
            act("enable", ctl.enable)
        if now.loaded and reload:
            outcome.waited_s += float(act("bootout", ctl.bootout) or 0.0)
            outcome.waited_s += float(act("bootstrap", lambda: ctl.bootstrap(plist)) or 0.0)
        elif not now.loaded:
            outcome.waited_s += float(act("bootstrap", lambda: ctl.bootstrap(plist)) or 0.0)
        elif restart or (keep_running and not now.running):
            kicked = act("kickstart", lambda: ctl.kickstart(kill=now.running))
            if kicked is False:
                # Gone between print and kickstart (a bootout still settling): load it again.
                outcome.waited_s += ctl.wait_gone() + ctl.bootstrap(plist)
                outcome.actions.append("bootstrap")
    if outcome.changed and not check_mode:
        outcome.state = ctl.state()
    return outcome
