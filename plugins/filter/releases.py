"""Releases of the llama_cpp role: which one a run puts in force, which it removes, and whether the nodes agree.

A node keeps its builds as release directories
``<install_dir>/<commit12>-<backend>-<flags hash>``, with ``current`` (the
release in force) and ``previous`` (the release in force before ``current``
last moved in a run that built the pin) as links beside them.
``llama_cpp_release`` puts a node back on one of them: ``""`` builds the pin
as usual, ``previous`` names the release ``previous`` points at, anything else
is a release directory's name. ``release_errors`` is the one judge of that
value, ``release_target`` the one resolution of it, ``target_disagreements``
the one rule that every node of a run goes to the same llama.cpp, and
``releases_to_prune`` the one rule of what is kept. Standard library only, so
unit tests need no Ansible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

PREVIOUS = "previous"


def release_target(requested: str, previous: str = "") -> str:
    """The release directory ``llama_cpp_release`` names: ``""`` (build the pin), ``previous``'s target, or itself.

    ``previous`` is where the node's ``previous`` link points (``""`` when it
    has none); only its last path component counts, as for ``current``.
    """
    value = str(requested or "").strip()
    if value == PREVIOUS:
        return PurePosixPath(str(previous or "")).name
    return value


def _listing(releases: Sequence[str], current: str, previous: str) -> str:
    if not releases:
        return "it has no release"
    marked = []
    for name in sorted(releases):
        marks = [mark for mark, link in (("current", current), (PREVIOUS, previous)) if link and name == link]
        marked.append(name + (f" ({', '.join(marks)})" if marks else ""))
    return "its releases are " + ", ".join(marked)


def release_errors(
    requested: str,
    host: str,
    releases: Sequence[str],
    previous: str = "",
    current: str = "",
    stamp: Mapping[str, Any] | None = None,
    tools: Iterable[str] = (),
    install_dir: str = "",
    previous_link: str = "",
    binary_stats: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """What is wrong with ``llama_cpp_release`` on ``host``; ``[]`` when the node can go back to it.

    ``releases`` are the release directories installed on the host,
    ``previous`` and ``current`` where its links point (``""`` for none),
    ``stamp`` the target release's stamp (``None`` or ``{}`` when it has
    none), ``tools`` what the host needs (``llama_cpp_tools``), ``binary_stats``
    the results of a looped ``stat`` of its stamped binaries (``item``, the
    file name, and ``stat``), of which each must be executable;
    ``install_dir`` and ``previous_link`` (the link's path) are for the
    message only. Each message names the variable, the host and the value,
    and lists the host's releases.
    """
    value = str(requested or "").strip()
    if not value:
        return []
    previous_name = PurePosixPath(str(previous or "")).name
    current_name = PurePosixPath(str(current or "")).name
    where = f" in {install_dir}" if install_dir else ""
    link = previous_link or "previous link"
    head = f"Host {host}: llama_cpp_release is '{value}', but"
    listing = _listing(list(releases), current_name, previous_name)
    choose = (
        "Name one of them, 'previous', or '' to build the pin (llama_cpp_commit)."
        if releases else "Set llama_cpp_release to '' to build the pin (llama_cpp_commit)."
    )
    target = release_target(value, previous_name)
    if value == PREVIOUS and not previous_name:
        return [
            f"{head} {host} has no record of a previous release (no {link}; a run that builds"
            f" the pin writes it when it moves current from one release to another); {listing}. {choose}"
        ]
    if target not in releases:
        what = (
            f"the previous release of {host}, {target} ({link}), is no longer installed"
            if value == PREVIOUS else f"{host} has no release of that name{where}"
        )
        return [f"{head} {what}; {listing}. {choose}"]
    if not stamp:
        return [
            f"{head} release {target} on {host} has no stamp (an install that did not finish), so it cannot be"
            f" put back; {listing}. {choose}"
        ]
    built = sorted(str(tool) for tool in (stamp.get("binaries") or {}))
    missing = sorted(set(str(tool) for tool in tools) - set(built))
    if missing:
        return [
            f"{head} release {target} on {host} has the tools {built}, and {host} needs {missing} as well"
            f" (llama_cpp_tools); {listing}. {choose}"
        ]
    broken = sorted(
        str(result.get("item", "?")) for result in binary_stats if not (result.get("stat") or {}).get("executable")
    )
    if broken:
        return [
            f"{head} release {target} on {host} lacks its binaries {broken} (missing or not executable);"
            f" {listing}. {choose}"
        ]
    return []


def _describe(target: Mapping[str, Any]) -> str:
    release = str(target.get("release") or "")
    requested = str(target.get("requested") or "")
    if release:
        how = f"release {release}" + (f", llama_cpp_release '{requested}'" if requested else "")
    else:
        how = "the pin, llama_cpp_commit"
    return f"{target.get('commit') or '(unknown)'} ({how})"


def target_disagreements(hosts: Sequence[str], targets: Sequence[Mapping[str, Any] | None]) -> list[str]:
    """One line per way the nodes' targets differ: the llama.cpp commit, or an RPC protocol both sides know.

    ``targets[i]`` is what ``hosts[i]`` will run after this run: ``commit``
    (the full commit of the pin, or of the release it goes back to),
    ``rpc_protocol`` (from that release's stamp; ``""`` where the pin is yet
    to be built), ``release`` (``""`` for the pin) and ``requested`` (the
    ``llama_cpp_release`` value). A host without a target, or without a
    commit, always disagrees. A protocol is compared only among the hosts
    that know theirs; the build stage compares the rest once they are built.
    """
    if len(hosts) != len(targets):
        raise ValueError(f"{len(hosts)} hosts but {len(targets)} targets")
    found = []
    commits = [str((target or {}).get("commit") or "") for target in targets]
    if "" in commits or len(set(commits)) > 1:
        found.append("commit: " + ", ".join(f"{host}={_describe(target or {})}" for host, target in zip(hosts, targets)))
    known = [
        (host, str(target.get("rpc_protocol")))
        for host, target in zip(hosts, targets)
        if target and target.get("rpc_protocol")
    ]
    if len({protocol for _, protocol in known}) > 1:
        found.append("RPC protocol: " + ", ".join(f"{host}={protocol}" for host, protocol in known))
    return found


def releases_to_prune(found: Iterable[Mapping[str, Any]], keep: int, current: str, previous: str = "") -> list[str]:
    """The paths of the release directories beyond the ``keep`` newest (by ``mtime``) of ``found``.

    ``found`` is what ``ansible.builtin.find`` returned (``path``, ``mtime``).
    ``current`` always stays, and so does ``previous`` while ``keep`` is at
    least 2: a release that ``llama_cpp_release: previous`` would go back to
    is never the one removed to make room.
    """
    if int(keep) < 1:
        raise ValueError(f"keep is {keep}: at least the current release stays")
    found = list(found)
    present = {PurePosixPath(str(entry["path"])).name for entry in found}
    current_name, previous_name = PurePosixPath(str(current)).name, PurePosixPath(str(previous or "")).name
    # current takes its place whether found or not; previous only where it is still there.
    protected = [current_name]
    if int(keep) >= 2 and previous_name in present and previous_name != current_name:
        protected.append(previous_name)
    others = sorted(
        (entry for entry in found if PurePosixPath(str(entry["path"])).name not in protected),
        key=lambda entry: float(entry["mtime"]),
        reverse=True,
    )
    room = max(int(keep) - len(protected), 0)
    return [str(entry["path"]) for entry in others[room:]]


class FilterModule:
    """Release helpers of the llama_cpp role."""

    def filters(self) -> dict:
        return {
            "release_target": release_target,
            "release_errors": release_errors,
            "target_disagreements": target_disagreements,
            "releases_to_prune": releases_to_prune,
        }
