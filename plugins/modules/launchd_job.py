#!/usr/bin/python
# ruff: noqa: EXE001  (Ansible modules carry this shebang but stay non-executable)
"""Ansible module: load, reload or restart a launchd job without racing launchd."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: launchd_job
short_description: Load, reload, restart or unload a launchd job, waiting out launchd's bootout
description:
  - Brings one job of a launchd domain to a state with C(launchctl bootstrap), C(bootout),
    C(enable) and C(kickstart).
  - "C(launchctl bootout) returns before launchd lets go of the label, and a C(bootstrap) in the
    meantime fails with C(Bootstrap failed: 5: Input/output error) (about 5 s,
    headroomlabs-ai/headroom#1289). Every unload therefore waits until C(launchctl print) no longer
    knows the label, and every load retries errno 5, both for at most O(timeout) seconds."
  - A C(kickstart) that finds no job (113) loads the plist again instead of failing.
  - community.general.launchd uses the legacy C(load)/C(unload) verbs and does not wait.
options:
  label:
    description: The job's label.
    type: str
    required: true
  plist:
    description: The job's plist, loaded by C(bootstrap).
    type: path
    required: true
  domain:
    description: The launchd domain (C(system) for a LaunchDaemon).
    type: str
    default: system
  state:
    description: C(started) loads (and enables) the job; C(stopped) boots it out.
    type: str
    choices: [started, stopped]
    default: started
  reload:
    description: The plist changed; boot a loaded job out and bootstrap it again.
    type: bool
    default: false
  restart:
    description: Restart the loaded job (C(kickstart -k)).
    type: bool
    default: false
  keep_running:
    description: A loaded job that is not running is started (a KeepAlive daemon). False for a job that runs on its own interval.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for a label to leave launchd, and to retry a bootstrap that gets errno 5.
    type: float
    default: 30
author:
  - llama-lab
notes:
  - Supports check mode, reporting the steps it would take.
"""

EXAMPLES = r"""
- name: Load the changed plist of llama-server
  launchd_job:
    label: org.ggml.llama-server
    plist: /Library/LaunchDaemons/org.ggml.llama-server.plist
    reload: "{{ __plist is changed }}"
"""

RETURN = r"""
actions:
  description: The launchctl steps taken (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
  sample: [bootout, bootstrap]
waited_s:
  description: Seconds spent waiting for launchd to let go of the label.
  returned: always
  type: float
loaded:
  description: Whether the job is loaded afterwards.
  returned: always
  type: bool
running:
  description: Whether the job has a running process afterwards.
  returned: always
  type: bool
pid:
  description: The job's process id afterwards, or null.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.launchd import Launchctl, LaunchdError, converge


def run_module() -> None:
    module = AnsibleModule(
        argument_spec={
            "label": {"type": "str", "required": True},
            "plist": {"type": "path", "required": True},
            "domain": {"type": "str", "default": "system"},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "reload": {"type": "bool", "default": False},
            "restart": {"type": "bool", "default": False},
            "keep_running": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 30.0},
        },
        supports_check_mode=True,
    )
    params = module.params

    def run(argv: list[str]) -> tuple[int, str, str]:
        return module.run_command(argv)

    ctl = Launchctl(run, params["label"], params["domain"], timeout=params["timeout"])
    try:
        outcome = converge(ctl, params["plist"], state=params["state"], reload=params["reload"],
                           restart=params["restart"], keep_running=params["keep_running"],
                           check_mode=module.check_mode)
    except LaunchdError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=outcome.changed, actions=outcome.actions, waited_s=round(outcome.waited_s, 1),
                     loaded=outcome.state.loaded, running=outcome.state.running, pid=outcome.state.pid)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
