"""Run the project's Ansible modules in-process, as the unit tests of gguf_info and device_memory do."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


def load_module(name: str, *utils: ModuleType) -> ModuleType:
    """plugins/modules/<name>.py, with ``utils`` served as ansible.module_utils.<their names>.

    ansible.cfg maps module_utils to plugins/module_utils; this mirrors it.
    """
    for util in utils:
        sys.modules.setdefault(f"ansible.module_utils.{util.__name__}", util)
    spec = importlib.util.spec_from_file_location(f"module_{name}", MODULES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(module: ModuleType, args: dict[str, Any], capsys: pytest.CaptureFixture) -> dict[str, Any]:
    """Run the module with ``args`` and return the JSON it exits with."""
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args(args), pytest.raises(SystemExit):
        module.run_module()
    return json.loads(capsys.readouterr().out)
