#!/usr/bin/python
# ruff: noqa: EXE001  (Ansible modules carry this shebang but stay non-executable)
"""Ansible module: read-only HELLO probe of a llama.cpp RPC server."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rpc_hello
short_description: Probe a llama.cpp RPC server and report its protocol and devices
description:
  - Opens a TCP connection to a llama.cpp RPC server (C(ggml-rpc-server), formerly C(rpc-server)),
    sends the HELLO command and, where the protocol has them, DEVICE_COUNT and GET_DEVICE_MEMORY.
  - Speaks both HELLO layouts. It tries the protocol 4+ layout (24-byte C(conn_caps)) first, then
    reconnects with the older empty-payload layout when the server closes the connection.
  - The server serves one client at a time. A probe sent while another client, such as
    C(llama-server), is connected waits for a reply and fails after O(timeout).
  - The module never changes anything, so check mode runs the same read-only probe.
options:
  host:
    description: Address or name of the RPC server.
    type: str
    required: true
  port:
    description: TCP port of the RPC server (1-65535).
    type: int
    required: true
  timeout:
    description: Seconds for the whole probe, including connect and the fallback to the old HELLO layout.
    type: float
    default: 5
author:
  - llama-lab
notes:
  - Supports check mode; the probe is read-only.
  - Needs only the Python standard library on the host that runs it.
"""

EXAMPLES = r"""
- name: Probe each RPC worker from the head
  rpc_hello:
    host: "{{ hostvars[item]['rpc_server_host'] }}"
    port: 50052
    timeout: 5
  loop: "{{ groups['rpc_workers'] }}"
  register: __verify_rpc_hello

- name: Probe a worker and show its free memory
  rpc_hello:
    host: 192.168.100.2
    port: 50052
  register: __verify_probe

- name: Show device memory
  ansible.builtin.debug:
    msg: "{{ __verify_probe.devices | map(attribute='free_bytes') | list }}"
"""

RETURN = r"""
protocol:
  description: Protocol version the server reported in its HELLO reply.
  returned: success
  type: str
  sample: "7.0.0"
hello_layout:
  description: HELLO layout the server answered, C(caps) (protocol 4+) or C(legacy) (before 4).
  returned: success
  type: str
  sample: caps
devices:
  description:
    - One entry per device the server exposes. Servers before protocol 3 have exactly one
      device and report the memory they were started with.
  returned: success
  type: list
  elements: dict
  contains:
    index:
      description: Device index on the server.
      type: int
      sample: 0
    free_bytes:
      description: Free memory in bytes.
      type: int
      sample: 25276502016
    total_bytes:
      description: Total memory in bytes.
      type: int
      sample: 25276502016
endpoint:
  description: The C(host:port) that was probed.
  returned: always
  type: str
  sample: "192.168.100.2:50052"
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.rpc_probe import RpcProbeError, probe

ARGUMENT_SPEC: dict[str, Any] = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "timeout": {"type": "float", "default": 5.0},
}


def validate_params(params: dict[str, Any]) -> str:
    """Return an error message for out-of-range parameters, or ''."""
    if not 1 <= params["port"] <= 65535:
        return f"port must be within 1-65535, got {params['port']}"
    if params["timeout"] <= 0:
        return "timeout must be greater than 0, got {}".format(params["timeout"])
    return ""


def run_module() -> None:
    """Probe the server and exit with its protocol and devices."""
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    endpoint = f"{params['host']}:{params['port']}"
    error = validate_params(params)
    if error:
        module.fail_json(msg=error, endpoint=endpoint, changed=False)
    try:
        result = probe(params["host"], params["port"], params["timeout"])
    except RpcProbeError as exc:
        module.fail_json(
            msg=f"RPC probe failed: {exc}", endpoint=endpoint, changed=False
        )
    module.exit_json(**result.as_dict(), endpoint=endpoint, changed=False)


def main() -> None:
    """Module entry point."""
    run_module()


if __name__ == "__main__":
    main()
