#!/usr/bin/env bash
# Make a fresh Debian/Ubuntu machine able to create the project's venv.
# Everything else (podman, debootstrap, iperf3 ...) the lab role installs.
set -euo pipefail

if [[ ! -r /etc/debian_version ]]; then
  echo "bootstrap-host: only Debian and Ubuntu are supported; install python3-venv, make and git yourself" >&2
  exit 1
fi

missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv python3-pip)
command -v git >/dev/null || missing+=(git)
command -v gcc >/dev/null || missing+=(build-essential)
if ((${#missing[@]})); then
  echo "bootstrap-host: installing ${missing[*]}"
  sudo_cmd=()
  ((EUID == 0)) || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi
