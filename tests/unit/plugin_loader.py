"""Load the project's Ansible filter and test plugins as plain modules."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"


def load(kind: str, name: str) -> ModuleType:
    """Import plugins/<kind>/<name>.py without Ansible's plugin loader."""
    spec = importlib.util.spec_from_file_location(f"plugin_{kind}_{name}", PLUGINS / kind / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_program(path: Path, name: str) -> ModuleType:
    """Import a Python program installed without a .py suffix (a watchdog, a hook) by its path."""
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
