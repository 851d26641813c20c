#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and the CUDA toolkit, as root: build the
# CUDA+RPC server from the pinned llama.cpp source and run it as the services
# stage runs it, through the rpc_server and service_unit roles (a playbook on
# localhost over a local connection): the same unit file, account, hardening
# and device policy, with the cuda backend and -d CUDA0, under a unit of its
# own (llama-rpc-gpu-check) on loopback. It then shows the device policy as
# systemd holds it, requires the server's start log to list a CUDA device,
# probes it with RPC HELLO (devices and memory) and runs the split planner
# against it. The check's unit is removed at exit; its account (llama-rpc, the
# one the services stage uses) and the installed binary stay.
#
# Usage: sudo scripts/gpu-check.sh [SDIST] [MODEL.gguf]
#   SDIST  llama-cpp-python 0.3.36 sdist (its vendor/llama.cpp is the pinned
#          commit); default build/sources/llama_cpp_python-0.3.36.tar.gz
#   MODEL  a GGUF to plan; default the lab model build/models/gemma-3-270m-q4_k_m.gguf
# Needs: cmake, a C++ compiler, nvcc (CUDA_ROOT, default /usr/local/cuda),
# nvidia-smi, python3, systemd, ansible-playbook (ANSIBLE_PLAYBOOK, default
# the repository's .venv, else the one on PATH). Nothing in CI runs it.
# Environment: PREFIX (where the binary goes; default /opt/llama-gpu-check,
# outside /tmp and /home, which the unit cannot see), PORT (50152), DEVICE
# (CUDA0), WORK (a scratch folder; default a new one under /var/tmp).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SDIST="${1:-${REPO}/build/sources/llama_cpp_python-0.3.36.tar.gz}"
MODEL="${2:-${REPO}/build/models/gemma-3-270m-q4_k_m.gguf}"
CUDA_ROOT="${CUDA_ROOT:-/usr/local/cuda}"
WORK="${WORK:-$(mktemp -d /var/tmp/gpu-check.XXXXXX)}"
PORT="${PORT:-50152}"
DEVICE="${DEVICE:-CUDA0}"
PREFIX="${PREFIX:-/opt/llama-gpu-check}"
UNIT=llama-rpc-gpu-check
PY="${PYTHON:-python3}"
if [ -z "${ANSIBLE_PLAYBOOK:-}" ]; then
  if [ -x "${REPO}/.venv/bin/ansible-playbook" ]; then
    ANSIBLE_PLAYBOOK="${REPO}/.venv/bin/ansible-playbook"
  else
    ANSIBLE_PLAYBOOK="$(command -v ansible-playbook || true)"
  fi
fi

say() { printf '== %s\n' "$*"; }
die() { printf 'gpu-check: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run it as root (sudo $0): it installs and starts a systemd unit"
[ -n "${ANSIBLE_PLAYBOOK}" ] || die "no ansible-playbook: make the repository's .venv or set ANSIBLE_PLAYBOOK"
command -v systemctl >/dev/null || die "no systemctl: the check runs the server as a systemd unit"

say "GPU"
nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.free,memory.total --format=csv
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n1 | tr -d '.')"

say "source: ${SDIST}"
tar -xzf "${SDIST}" -C "${WORK}"
SRC="$(find "${WORK}" -maxdepth 3 -type d -path '*vendor/llama.cpp' | head -n1)"
grep -E 'RPC_PROTO_(MAJOR|MINOR|PATCH)_VERSION' "${SRC}/ggml/include/ggml-rpc.h"

say "configure and build ggml-rpc-server for CUDA architecture ${ARCH}"
start=${SECONDS}
cmake -S "${SRC}" -B "${WORK}/build" -DGGML_CUDA=ON -DGGML_RPC=ON -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${ARCH}" -DCUDAToolkit_ROOT="${CUDA_ROOT}" \
  -DCMAKE_CUDA_COMPILER="${CUDA_ROOT}/bin/nvcc" >"${WORK}/configure.log"
cmake --build "${WORK}/build" --parallel "$(nproc)" --target ggml-rpc-server >"${WORK}/build.log"
say "built in $((SECONDS - start)) s"

# The unit has PrivateTmp= and ProtectHome=: the binary must live elsewhere.
BIN="${PREFIX}/bin/ggml-rpc-server"
install -D -m 0755 "${WORK}/build/bin/ggml-rpc-server" "${BIN}"
say "installed ${BIN}; its libraries:"
ldd "${BIN}" | grep -E 'cuda|cublas|not found' || true

cleanup() {
  systemctl disable --now "${UNIT}.service" >/dev/null 2>&1 || true
  rm -f "/etc/systemd/system/${UNIT}.service"
  systemctl daemon-reload || true
}
trap cleanup EXIT

say "the unit as the services stage writes it (rpc_server and service_unit roles, backend cuda, -d ${DEVICE})"
cat >"${WORK}/gpu-check.yml" <<'YAML'
---
- name: GPU check - the RPC server as the services stage runs it
  hosts: localhost
  connection: local
  gather_facts: true
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Run the RPC server through the rpc_server role
      ansible.builtin.include_role:
        name: rpc_server
YAML
"${PY}" - "${WORK}/vars.json" "${BIN}" "${PORT}" "${DEVICE}" "${UNIT}" <<'PYEOF'
import json, sys
path, binary, port, device, unit = sys.argv[1:]
json.dump({
    "rpc_server_binary": binary,
    # The stamp's backend is what picks the unit's device policy.
    "rpc_server_build": {"backend": "cuda", "gpu_check": True},
    "rpc_server_address": "127.0.0.1",
    "rpc_server_port": int(port),
    "rpc_server_device": device,
    "rpc_server_service_name": unit,
    "rpc_server_cache_dir": f"/var/cache/{unit}",
}, open(path, "w"))
PYEOF
# A server that cannot open CUDA0 exits ("unknown device") and the role's
# wait for its port fails: show why before failing.
deployed=0
ANSIBLE_CONFIG="${REPO}/ansible.cfg" "${ANSIBLE_PLAYBOOK}" -i localhost, -e "@${WORK}/vars.json" "${WORK}/gpu-check.yml" || deployed=$?

say "the unit's device policy and privileged steps"
grep -E '^(Wants|After|ExecStartPre|ExecStart|DevicePolicy|DeviceAllow|NoNewPrivileges|ProtectKernelModules|CapabilityBoundingSet)=' \
  "/etc/systemd/system/${UNIT}.service"
systemctl show "${UNIT}.service" --property=ActiveState,DevicePolicy,DeviceAllow
say "what the device rules resolved against"
grep -E 'nvidia' /proc/devices || true
ls -l /dev/nvidia* 2>/dev/null || true
if [ "${deployed}" -ne 0 ]; then
  say "the server did not come up; its last start"
  journalctl --no-pager --output=cat --unit "${UNIT}.service" --lines 40 || true
  die "the RPC server did not serve on 127.0.0.1:${PORT} as the services stage runs it (ansible-playbook exit ${deployed})"
fi

say "HELLO probe"
PYTHONPATH="${REPO}/plugins/module_utils" "${PY}" - "${PORT}" >"${WORK}/probe.json" <<'PYEOF'
import json, sys
import rpc_probe
print(json.dumps(rpc_probe.probe("127.0.0.1", int(sys.argv[1]), timeout=10).as_dict(), indent=2))
PYEOF
cat "${WORK}/probe.json"

# The server's device list goes to stdout, which reaches the journal at its
# first accepted connection (the role's wait and the probe made two).
say "the devices the server serves, from its start log in the journal"
invocation="$(systemctl show --property=InvocationID --value "${UNIT}.service")"
journalctl --no-pager --output=cat "_SYSTEMD_INVOCATION_ID=${invocation}" >"${WORK}/rpc.log"
PYTHONPATH="${REPO}/plugins/filter" "${PY}" - "${WORK}/rpc.log" <<'PYEOF'
import sys
import devices
log = open(sys.argv[1], encoding="utf-8", errors="replace").read()
served = devices.rpc_server_devices(log)
for d in served:
    print(f"  {d['name']} ({d['kind']}): {d['description']}, {d['free_mib']}/{d['total_mib']} MiB free/total")
print(f"  ggml_cuda_init: {devices.cuda_init(log) or '(no line)'}")
if not any(d["kind"] == "cuda" for d in served):
    sys.exit("gpu-check: the unit's server serves no CUDA device; the device policy or the driver kept CUDA out "
             f"(log: {sys.argv[1]})")
print("  CUDA is let in by the unit's device policy.")
PYEOF

say "split plan"
PYTHONPATH="${REPO}/plugins/module_utils" "${PY}" - "${PORT}" "${MODEL}" "${WORK}/probe.json" <<'PYEOF'
import json, sys
import gguf_model, split_plan
port, model_path, probe_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
probe = json.load(open(probe_path))
devices = split_plan.llama_devices([{"endpoint": f"127.0.0.1:{port}", "devices": probe["devices"]}])
plan = split_plan.plan(gguf_model.read_model(model_path), devices, 4096)
print(split_plan.table(plan))
PYEOF
say "done; the work folder is ${WORK}"
