"""Copy an inventory directory with one host moved from one group to another.

    python3 move-host.py SRC_DIR DEST_DIR HOST FROM_GROUP TO_GROUP

Every entry of SRC_DIR is linked into DEST_DIR, except the YAML files that
list HOST under FROM_GROUP: those are written anew with HOST (and its
variables) taken out of FROM_GROUP and put into TO_GROUP's hosts. TO_GROUP
must appear in the same file. Fails if no file lists HOST under FROM_GROUP.
"""

import sys
from pathlib import Path

import yaml


def groups(tree):
    """Each group mapping of a YAML inventory, with its name, at any depth."""
    for name, group in (tree or {}).items():
        if isinstance(group, dict):
            yield name, group
            yield from groups(group.get("children"))


def move(tree, host, source, target):
    """Move ``host`` from group ``source`` to group ``target``; True when it was there."""
    found = dict(groups(tree))
    hosts = (found.get(source) or {}).get("hosts") or {}
    if host not in hosts or target not in found:
        return False
    host_vars = hosts.pop(host)
    found[target].setdefault("hosts", {})
    found[target]["hosts"] = {**(found[target]["hosts"] or {}), host: host_vars}
    return True


def main(src, dest, host, source, target):
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    moved = False
    for entry in sorted(src.iterdir()):
        out = dest / entry.name
        # Molecule links the scenario's hosts.yml in as "hosts": a file without a suffix is tried too.
        if entry.suffix in (".yml", ".yaml", "") and entry.is_file():
            try:
                tree = yaml.safe_load(entry.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError):
                tree = None
            if isinstance(tree, dict) and move(tree, host, source, target):
                out.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
                moved = True
                continue
        out.symlink_to(entry.resolve())
    if not moved:
        sys.exit(f"no inventory file in {src} lists {host} under {source} next to {target}")


if __name__ == "__main__":
    main(*sys.argv[1:6])
