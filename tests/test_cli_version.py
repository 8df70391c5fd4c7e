"""``upbit-hub --version`` and ``upbit_hub.__version__`` come from the package metadata."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import upbit_hub

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def test_the_package_version_is_the_installed_distributions_version():
    assert upbit_hub.__version__ == importlib.metadata.version("upbit-hub")
    assert upbit_hub.__version__ == _pyproject_version()


def test_upbit_hub_version_prints_the_package_version_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "upbit_hub.actors.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"upbit-hub {upbit_hub.__version__}"


@pytest.mark.skipif(shutil.which("upbit-hub") is None, reason="console script not on PATH")
def test_the_console_script_knows_its_version_too():
    proc = subprocess.run(["upbit-hub", "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"upbit-hub {upbit_hub.__version__}")


def test_without_metadata_the_version_falls_back_to_the_pyproject(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert upbit_hub._version() == _pyproject_version()


def test_importing_the_root_package_loads_nothing_of_the_hub():
    code = ("import sys, upbit_hub\n"
            "print(','.join(m for m in sys.modules if m.startswith('upbit_hub.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_the_import_root_folder_holds_only_its_init():
    # the code lives in actors/, plugins/ and config/, mapped in beneath upbit_hub
    assert sorted(p.name for p in (ROOT / "upbit_hub").iterdir() if p.name != "__pycache__") == [
        "__init__.py"
    ]
