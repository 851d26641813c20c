"""The preflight refuses an inventory that sets a name playbooks/vars/wiring.yml sets (issue 15).

The wiring is loaded as play vars_files, which outrank inventory variables,
so such a value would be ignored without a word. The real task of
playbooks/preflight.yml runs here against a local inventory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugin_loader import load

ROOT = Path(__file__).resolve().parents[2]
cluster = load("filter", "cluster")
WIRING = {"llama_server_port": "{{ cluster_api_port }}", "rpc_fence_allowed": "{{ cluster_rpc_heads }}",
          "llama_server_restart_reasons": "{{ rpc_server_result }}"}


def test_a_wired_name_the_inventory_sets_in_vain_names_what_to_set() -> None:
    found = cluster.wiring_ignored(["llama_server_port"], [8080], [9999], WIRING, "studio")
    assert found == ["Host studio: the inventory sets llama_server_port to 8080, but playbooks/vars/wiring.yml sets it "
                     "for every stage (to 9999 here), so the inventory's value would be ignored; set cluster_api_port instead."]


def test_the_same_value_in_another_type_is_no_loss() -> None:
    assert cluster.wiring_ignored(["llama_server_port"], ["9999"], [9999], WIRING, "studio") == []


def test_a_name_with_no_cluster_source_is_internal() -> None:
    found = cluster.wiring_ignored(["llama_server_restart_reasons"], [["x"]], [[]], WIRING, "studio")
    assert found[0].endswith("it is internal wiring, not an input.")


def _preflight_task() -> dict:
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text(encoding="utf-8"))
    return next(t for t in plays[0]["tasks"] if t["name"] == "Check the inventory sets no variable the wiring sets")


@pytest.mark.parametrize(("extra", "refused"), [([], True), (["-e", "llama_server_port=8080"], False)])
def test_the_preflight_task_refuses_it(tmp_path: Path, extra: list[str], refused: bool) -> None:
    """The inventory's 8080 loses to the wiring and is refused; an extra var wins over the wiring and passes."""
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "wiring.yml").symlink_to(ROOT / "playbooks" / "vars" / "wiring.yml")
    (tmp_path / "inventory").write_text(
        "studio ansible_connection=local ansible_python_interpreter=" + sys.executable
        + " llama_server_port=8080 rpc_server_port=50052\n", encoding="utf-8")
    play = [{"hosts": "studio", "gather_facts": False, "vars_files": ["vars/wiring.yml"],
             "roles": ["cluster"], "tasks": [_preflight_task()]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_FILTER_PLUGINS=str(ROOT / "plugins" / "filter"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    run = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"), *extra],
                         capture_output=True, text=True, env=env, check=False)
    if refused:
        assert run.returncode != 0
        # One line per result (json), the message whole.
        assert ("Host studio: the inventory sets llama_server_port to 8080, but playbooks/vars/wiring.yml sets it"
                " for every stage (to 9999 here), so the inventory's value would be ignored; set cluster_api_port"
                " instead.") in run.stdout
        assert "rpc_server_port" not in run.stdout
    else:
        assert run.returncode == 0, run.stdout[-2000:]
