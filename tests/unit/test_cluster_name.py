"""One controller, many inventories: each cluster's name, and the controller folders named after it.

The name comes from the inventory (plugins/filter/cluster.py, inventory_name),
the cluster role's defaults put this cluster's reports and self-signed
certificates below it, and its validate refuses a name that is no plain
folder name or that differs between the hosts of a run. The lab and its
three-host variant both have a head called studio: they must not share a
certificate (issue 21).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_loader import load

ROOT = Path(__file__).resolve().parents[2]
cluster = load("filter", "cluster")


@pytest.mark.parametrize(
    ("inventory_file", "name"),
    [
        ("/p/inventory/lab/hosts.yml", "lab"),
        ("/p/inventory/lab3/hosts.yml", "lab3"),
        ("/p/inventory/production/hosts.ini", "production"),
        ("/p/inventory/production/hosts", "production"),
        # Two inventories side by side in one folder: each file is one.
        ("/p/inventory/staging.yml", "staging"),
        ("/p/inventory/prod.yaml", "prod"),
        # A folder called inventory says nothing: its parent does.
        ("/p/molecule/cluster/inventory/hosts.yml", "cluster"),
        ("/home/u/.cache/molecule/main/link/inventory/hosts", "link"),
        ("/home/u/.cache/molecule/main/link/inventory/ansible_inventory.yml", "link"),
        ("/srv/site/inventory/hosts.yml", "site"),
        ("/p/inventory/Lab.YML", "Lab"),
        ("", ""),
    ],
)
def test_inventory_name(inventory_file: str, name: str) -> None:
    assert cluster.inventory_name(inventory_file) == name


def test_an_inventory_named_as_a_folder_or_as_its_file_is_one_name() -> None:
    assert cluster.inventory_name(str(ROOT / "inventory/lab/hosts.yml")) == "lab"
    assert {cluster.inventory_name(str(p)) for p in (ROOT / "inventory").glob("*/hosts.yml")} == {"lab", "lab3", "production"}


def test_a_plain_name_shared_by_every_host_passes() -> None:
    names = {"spark": "lab", "studio": "lab", "spark2": "lab"}
    assert [cluster.cluster_name_errors(names, host) for host in names] == [[], [], []]


@pytest.mark.parametrize("name", ["", "../lab", "lab/x", ".hidden", "-lab", "lab x", "l" * 65])
def test_a_name_that_is_no_plain_folder_name_is_refused(name: str) -> None:
    errors = cluster.cluster_name_errors({"studio": name}, "studio")
    assert errors == [
        f"Host studio: cluster_name is '{name}': it names this cluster's folders on the controller"
        " (reports/<name>, build/clusters/<name>), so it must be 1-64 letters, digits, '.', '_' or '-',"
        " starting with a letter or digit. Set cluster_name in the inventory's group_vars."
    ]


def test_hosts_of_one_run_with_two_names_are_refused_naming_each() -> None:
    names = {"studio": "lab", "spark": "lab3", "spark2": "lab3", "other": "lab"}
    errors = cluster.cluster_name_errors(names, "studio")
    assert errors == [
        "Host studio: cluster_name is 'lab', but spark has 'lab3', spark2 has 'lab3': the hosts of one cluster"
        " share one name (and one set of reports and certificates). Set cluster_name once, for the whole inventory."
    ]
    assert cluster.cluster_name_errors(names, "spark")[0].startswith(
        "Host spark: cluster_name is 'lab3', but other has 'lab', studio has 'lab': "
    )


def test_the_molecule_scenarios_name_themselves_apart_from_the_inventories() -> None:
    names = {}
    for path in sorted((ROOT / "molecule").glob("*/inventory/hosts.yml")):
        names[path.parts[-3]] = yaml.safe_load(path.read_text(encoding="utf-8"))["llama_cluster"]["vars"]["cluster_name"]
    assert names == {"cluster": "molecule-cluster", "link": "molecule-link", "macos": "molecule-macos"}
    assert not set(names.values()) & {"lab", "lab3", "production"}


# The cluster role's defaults and the wiring, rendered by Ansible's Templar
# as a play renders them, for a host of each lab inventory.

@functools.cache
def _plugins() -> None:
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader()


def _templar(**extra: Any):
    pytest.importorskip("ansible")
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from unit_text import trust

    _plugins()
    loader = DataLoader()
    variables: dict[str, Any] = {}
    variables.update(trust(loader.load_from_file(str(ROOT / "roles/cluster/defaults/main.yml"))))
    variables.update(trust(loader.load_from_file(str(ROOT / "playbooks/vars/wiring.yml"))))
    variables.update({"ansible_config_file": str(ROOT / "ansible.cfg"), "inventory_hostname": "studio", **extra})
    return Templar(loader=loader, variables=variables)


def _render(expression: str, **extra: Any) -> Any:
    from ansible.template import trust_as_template

    return _templar(**extra).template(trust_as_template(expression))


@pytest.mark.parametrize("inventory", ["lab", "lab3"])
def test_each_inventory_keeps_its_own_reports_and_certificates(inventory: str) -> None:
    host = {"inventory_file": str(ROOT / "inventory" / inventory / "hosts.yml"), "cluster_api_tls": True}
    assert _render("{{ cluster_name }}", **host) == inventory
    assert _render("{{ cluster_reports_dir }}", **host) == f"{ROOT}/reports/{inventory}"
    tls = f"{ROOT}/build/clusters/{inventory}/tls"
    assert _render("{{ llama_server_tls_selfsigned_dir }}", **host) == tls
    # What the controller trusts is what llama_server signs there.
    assert _render("{{ cluster_check_client_ca_file }}", **host).strip() == f"{tls}/studio.crt"
    # The shared, content-named assets stay shared.
    assert _render("{{ cluster_assets_dir }}", **host) == f"{ROOT}/build"


def test_an_inventory_sets_its_name() -> None:
    assert _render("{{ cluster_api_tls_selfsigned_dir }}", cluster_name="molecule-cluster",
                   inventory_file="/x/inventory/hosts") == f"{ROOT}/build/clusters/molecule-cluster/tls"


def _validate_name_check(names: dict[str, str], host: str) -> tuple[bool, str]:
    """The validate task that compares the run's hosts, rendered with their published names."""
    from ansible.template import trust_as_template
    from unit_text import trust

    tasks = yaml.safe_load((ROOT / "roles/cluster/tasks/validate.yml").read_text(encoding="utf-8"))
    task = next(t for t in tasks if t["name"] == "Check the cluster's name")
    templar = _templar(ansible_play_hosts=list(names), inventory_hostname=host,
                       hostvars={h: {"__cluster_name": n} for h, n in names.items()}, **trust(task["vars"]))
    check = task["ansible.builtin.assert"]
    passed = bool(templar.template(trust_as_template("{{ " + str(check["that"]) + " }}")))
    return passed, str(templar.template(trust_as_template(str(check["fail_msg"]))))


def test_validate_refuses_two_names_in_one_run() -> None:
    assert _validate_name_check({"studio": "lab", "spark": "lab"}, "studio") == (True, "")
    passed, msg = _validate_name_check({"studio": "lab", "spark": "lab3"}, "studio")
    assert not passed
    assert msg.startswith("Host studio: cluster_name is 'lab', but spark has 'lab3':")


def _published(fact: str, **extra: Any) -> Any:
    """One fact the cluster role's set_fact task publishes, rendered for a host with ``extra``."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import trust_as_template
    from unit_text import trust

    tasks = DataLoader().load_from_file(str(ROOT / "roles/cluster/tasks/main.yml"))
    publish = next(task for task in tasks if "ansible.builtin.set_fact" in task)
    expression = trust(publish["ansible.builtin.set_fact"][fact])
    return _templar(**extra).template(trust_as_template(expression) if isinstance(expression, str) else expression)


@pytest.mark.parametrize(
    ("api_host", "tls", "url"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:9999"),
        ("0.0.0.0", True, "https://127.0.0.1:9999"),
        # One address of the head's: b66bfb0 still watched 127.0.0.1, where nothing listens, and the
        # watchdog restarted a healthy llama-server for ever.
        ("192.168.100.1", True, "https://192.168.100.1:9999"),
    ],
)
def test_the_heads_clients_reach_llama_server_where_it_listens(api_host: str, tls: bool, url: str) -> None:
    host = {"cluster_api_host": api_host, "cluster_api_tls": tls}
    assert _render("{{ llama_server_host }}", **host) == api_host
    assert _published("cluster_api_url", **host).strip() == url
    assert _render("{{ watchdog_url }}", cluster_api_url=url, **host) == url
