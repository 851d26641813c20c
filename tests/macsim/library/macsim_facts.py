#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: facts that make a macsim container look like the Mac Studio head."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: macsim_facts
short_description: Override gathered facts so a macsim container reads as macOS on Apple silicon
description:
  - For tests only. Run it right after fact gathering on a Debian container where
    C(tests/macsim/install.sh) installed the macOS command simulator.
  - Returns C(ansible_facts) with the keys a real Mac Studio gives C(setup) (C(system=Darwin),
    C(os_family=Darwin), C(distribution=MacOSX), C(architecture=arm64), ...), so roles take their
    Darwin branch. Keys it does not return keep the container's own values.
  - Interface facts come from parsing the simulator's C(ifconfig -a) with Ansible's own
    Darwin network fact parser, so they have exactly the shape C(setup) gives on a Mac.
  - Reads the simulator state only; changes nothing except creating the default state file on
    first use. On a host without the simulator it returns no facts, so it can be one of
    C(FACTS_MODULES) for every host of a scenario.
options:
  state_path:
    description: Path of the simulator state file (C(MACSIM_STATE)).
    type: path
    default: /var/lib/macsim/state.json
  simulator:
    description: Path of the installed C(macsim.py), used to create the state file when it is missing.
    type: path
    default: /usr/local/lib/macsim/macsim.py
  ifconfig_path:
    description: The simulated C(ifconfig) whose output is parsed into interface facts.
    type: path
    default: /usr/local/bin/ifconfig
author:
  - llama-lab
notes:
  - Supports check mode; it is read-only.
  - Modules still run under the container's Linux Python. Modules that pick their implementation
    from C(platform.system()) (C(ansible.builtin.user), C(group), C(service)) keep using their
    Linux code; see C(tests/macsim/README.md).
"""

EXAMPLES = r"""
- name: Make the head container look like the Mac Studio
  hosts: head
  gather_facts: true
  tasks:
    - name: Override facts with the simulated Mac's
      macsim_facts:

    - name: Show that the Darwin branch will be taken
      ansible.builtin.assert:
        that: ansible_facts['system'] == 'Darwin'
"""

RETURN = r"""
ansible_facts:
  description: Facts that replace the gathered ones.
  returned: always
  type: dict
  contains:
    system:
      description: Always C(Darwin).
      type: str
      sample: Darwin
    distribution_version:
      description: macOS version from the simulator state (C(sw_vers -productVersion)).
      type: str
      sample: "15.3.1"
    architecture:
      description: Always C(arm64).
      type: str
      sample: arm64
    interfaces:
      description: Interface names, C(lo0) first, as C(ifconfig -l) lists them.
      type: list
      elements: str
      sample: [en0, en1, lo0]
    en0:
      description: One entry per interface, in the shape Darwin C(setup) returns.
      type: dict
      sample:
        device: en0
        mtu: "9000"
        ipv4: [{address: 192.168.1.50, netmask: 255.255.255.0, network: 192.168.1.0,
                broadcast: 192.168.1.255}]
        macaddress: "3c:a6:f6:10:20:30"
        status: active
    default_ipv4:
      description: The first service in service order that has an address and a router.
      type: dict
    memtotal_mb:
      description: Memory of the simulated Mac Studio.
      type: int
      sample: 131072
"""

import json
import os
import sys
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.facts.network.darwin import DarwinNetwork

Facts = dict[str, Any]


def load_state(module: AnsibleModule) -> dict[str, Any]:
    """Read the simulator state, asking the simulator to create it when missing."""
    path = module.params["state_path"]
    if not os.path.exists(path):
        module.run_command([sys.executable, module.params["simulator"], "sw_vers"],
                           environ_update={"MACSIM_STATE": path}, check_rc=True)
    with open(path, encoding="utf-8") as handle:
        state: dict[str, Any] = json.load(handle)
    return state


def default_route(state: dict[str, Any]) -> dict[str, str]:
    """Like `route -n get default`: the first ordered service with a router."""
    devices = state["network"]["devices"]
    for service in state["network"]["services"]:
        device = devices[service["device"]]
        if not service["enabled"] or device["status"] != "active":
            continue
        config = service if service["config"] == "manual" else (device["dhcp_lease"] or {})
        if config.get("ip") and config.get("router"):
            return {"interface": service["device"], "address": config["ip"],
                    "gateway": config["router"]}
    return {}


def network_facts(module: AnsibleModule, state: dict[str, Any]) -> Facts:
    """Parse the simulated `ifconfig -a` with Ansible's Darwin parser."""
    parser = DarwinNetwork(module)
    interfaces, ips = parser.get_interfaces_info(module.params["ifconfig_path"])
    interfaces = parser.detect_type_media(interfaces)
    default_ipv4 = default_route(state)
    parser.merge_default_interface(default_ipv4, interfaces, "ipv4")
    facts: Facts = dict(interfaces)
    facts.update(interfaces=sorted(interfaces), default_ipv4=default_ipv4, default_ipv6={},
                 all_ipv4_addresses=ips["all_ipv4_addresses"],
                 all_ipv6_addresses=ips["all_ipv6_addresses"])
    return facts


def platform_facts(state: dict[str, Any]) -> Facts:
    system = state["system"]
    version = system["product_version"]
    kernel = system["kernel_release"]
    return {
        "system": "Darwin",
        "kernel": kernel,
        "kernel_version": f"Darwin Kernel Version {kernel}: root:xnu/RELEASE_ARM64_T6020",
        "os_family": "Darwin",
        "distribution": "MacOSX",
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0],
        "distribution_release": kernel,
        "architecture": "arm64",
        "machine": "arm64",
        "userspace_bits": "64",
        "pkg_mgr": "homebrew",
        "service_mgr": "launchd",
    }


def hardware_facts(state: dict[str, Any]) -> Facts:
    system = state["system"]
    cores = int(system["cores"])
    return {
        "model": system["model"],
        "product_name": system["model"],
        "osversion": system["build_version"],
        "processor": system["chip"],
        "processor_cores": cores,
        "processor_vcpus": cores,
        "processor_nproc": cores,
        "memtotal_mb": int(system["memory_mb"]),
        "memfree_mb": int(system["memory_mb"]) * 3 // 4,
    }


def user_facts() -> Facts:
    """root on macOS lives in /var/root with /bin/sh."""
    env = dict(os.environ, HOME="/var/root", SHELL="/bin/sh")
    return {"user_dir": "/var/root", "user_shell": "/bin/sh", "env": env}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state_path": {"type": "path", "default": "/var/lib/macsim/state.json"},
            "simulator": {"type": "path", "default": "/usr/local/lib/macsim/macsim.py"},
            "ifconfig_path": {"type": "path", "default": "/usr/local/bin/ifconfig"},
        },
        supports_check_mode=True,
    )
    if not os.path.exists(module.params["simulator"]):
        # Not a simulated Mac (a fact module for every host of a scenario): keep its own facts.
        module.exit_json(changed=False, ansible_facts={})
    state = load_state(module)
    os.environ["MACSIM_STATE"] = module.params["state_path"]
    facts: Facts = {}
    for part in (platform_facts(state), hardware_facts(state), user_facts(),
                 network_facts(module, state)):
        facts.update(part)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
