#!/usr/bin/env python3
"""Give a lab container the access a real machine has: sshd with its own host
keys, and login users reached with one SSH key, each with its sudo rule.

Runs inside the container, as root: the lab role passes this script to
`podman exec -i <container> python3 -c` and the request on stdin:

    {"users": [{"name": "labadmin", "sudo": "nopasswd" | "password" | "none",
                "password": "..." (for "password"), "key": "ssh-ed25519 ..."}]}

Prints {"changed": [what it changed], "host_key": "ssh-ed25519 ..."}; a
second run with the same request changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

SUDO_RULES = {
    "nopasswd": "{user} ALL=(ALL:ALL) NOPASSWD: ALL\n",
    "password": "{user} ALL=(ALL:ALL) ALL\n",
}


def run(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, check=True, capture_output=True, text=True).stdout


def write(path: Path, text: str, mode: int, owner: str | None = None) -> bool:
    """Write text to path when it differs; True when it changed anything."""
    changed = not path.exists() or path.read_text() != text
    if changed:
        tmp = path.with_name(path.name + ".new")
        tmp.write_text(text)
        tmp.chmod(mode)
        tmp.replace(path)
    if path.stat().st_mode & 0o7777 != mode:
        path.chmod(mode)
        changed = True
    if owner is not None:
        entry = pwd.getpwnam(owner)
        if (path.stat().st_uid, path.stat().st_gid) != (entry.pw_uid, entry.pw_gid):
            os.chown(path, entry.pw_uid, entry.pw_gid)
            changed = True
    return changed


# Which password each user was given, as a digest readable by root only, so
# that a second run can tell it has nothing to do (the crypt module is gone
# from newer Pythons).
SET_PASSWORDS = Path("/etc/lab-access")


def ensure_user(spec: dict, changed: list[str]) -> None:
    user = spec["name"]
    try:
        pwd.getpwnam(user)
    except KeyError:
        run("useradd", "--create-home", "--shell", "/bin/bash", user)
        changed.append(f"user {user}")
    home = Path(pwd.getpwnam(user).pw_dir)
    ssh_dir = home / ".ssh"
    if not ssh_dir.is_dir():
        ssh_dir.mkdir(mode=0o700)
        changed.append(f"{ssh_dir}")
    entry = pwd.getpwnam(user)
    os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
    if write(ssh_dir / "authorized_keys", spec["key"].strip() + "\n", 0o600, user):
        changed.append(f"{user}'s authorized_keys")

    if spec["sudo"] == "password":
        SET_PASSWORDS.mkdir(mode=0o700, exist_ok=True)
        digest = hashlib.sha256(f"{user}:{spec['password']}".encode()).hexdigest() + "\n"
        marker = SET_PASSWORDS / user
        if not marker.exists() or marker.read_text() != digest:
            run("chpasswd", stdin=f"{user}:{spec['password']}\n")
            write(marker, digest, 0o600)
            changed.append(f"{user}'s password")

    rule = Path(f"/etc/sudoers.d/lab-{user}")
    if spec["sudo"] in SUDO_RULES:
        text = SUDO_RULES[spec["sudo"]].format(user=user)
        if not rule.exists() or rule.read_text() != text:
            candidate = rule.with_name(rule.name + ".new")
            candidate.write_text(text)
            candidate.chmod(0o440)
            run("visudo", "-cf", str(candidate))
            candidate.replace(rule)
            changed.append(f"sudo rule for {user} ({spec['sudo']})")
    elif rule.exists():
        rule.unlink()
        changed.append(f"sudo rule for {user} removed")


def ensure_sshd(changed: list[str]) -> str:
    key = Path("/etc/ssh/ssh_host_ed25519_key.pub")
    if not key.exists():
        run("ssh-keygen", "-A")
        changed.append("host keys")
    active = subprocess.run(["systemctl", "is-active", "--quiet", "ssh.service"], check=False).returncode == 0
    enabled = subprocess.run(["systemctl", "is-enabled", "--quiet", "ssh.service"], check=False).returncode == 0
    if not enabled:
        run("systemctl", "enable", "ssh.service")
        changed.append("ssh enabled")
    if not active or "host keys" in changed:
        # The image leaves sshd off until its keys exist; a start that failed
        # before (no keys) must not count against systemd's start limit.
        run("systemctl", "reset-failed", "ssh.service")
        run("systemctl", "restart", "ssh.service")
        changed.append("ssh started")
    return " ".join(key.read_text().split()[:2])


def ensure_no_user_manager(changed: list[str]) -> None:
    """No systemd user manager for the logins. In these containers a user
    manager cannot stop (its processes outlive the final SIGKILL) and is
    failed only after a 2-minute timeout; a login in the meantime waits for
    it, and Ansible's become gave up after 12 s (seen on the cluster's
    workers). A real machine's logins do not depend on it either."""
    unit = Path("/etc/systemd/system/user@.service")
    if not (unit.is_symlink() and os.readlink(unit) == "/dev/null"):
        run("systemctl", "mask", "user@.service")
        changed.append("user managers masked")


def main() -> int:
    request = json.load(sys.stdin)
    changed: list[str] = []
    for spec in request["users"]:
        ensure_user(spec, changed)
    ensure_no_user_manager(changed)
    host_key = ensure_sshd(changed)
    json.dump({"changed": changed, "host_key": host_key}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
