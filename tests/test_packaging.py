"""The package installs under one import root and the protocol layer stays pure."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str, cwd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_top_level_folders_are_not_importable_as_bare_packages(tmp_path):
    for name in ("actors", "config", "plugins"):
        proc = _run(f"import {name}", str(tmp_path))
        assert proc.returncode != 0, f"bare 'import {name}' must fail after install"
        assert "ModuleNotFoundError" in proc.stderr


def test_packages_import_under_upbit_hub(tmp_path):
    proc = _run(
        "import upbit_hub.actors, upbit_hub.plugins, upbit_hub.config, upbit_hub.actors.protocol",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr


def test_protocol_layer_does_not_import_pykka_or_network_libraries(tmp_path):
    code = (
        "import sys, upbit_hub.actors.protocol as p, pkgutil, importlib\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    importlib.import_module('upbit_hub.actors.protocol.' + m.name)\n"
        # (threading is not listed: the logging module imports it)
        "bad = [m for m in ('pykka', 'websocket', 'requests', 'aiohttp', 'socket', 'jwt')"
        " if m in sys.modules and m not in BASE]\n"
        "print(','.join(bad))\n"
    )
    # modules the bare interpreter already has loaded are not the protocol layer's doing
    code = "import sys\nBASE = set(sys.modules)\n" + code
    proc = _run(code, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"protocol layer imported: {proc.stdout.strip()}"


def test_config_files_ship_as_package_data():
    from importlib import resources

    names = {p.name for p in resources.files("upbit_hub.config").iterdir()}
    assert {"default.toml", "sim.toml"} <= names


def test_the_message_schema_ships_as_package_data_and_agrees_with_the_field_tables():
    from upbit_hub.actors.protocol import fields as F
    from upbit_hub.actors.protocol.schema import load_ws_schema

    messages = load_ws_schema()["server_messages"]
    for type_name, table in F.FIELDS_BY_TYPE.items():
        doc = messages["candle" if type_name.startswith("candle.") else type_name]
        keys = {f["name"]: f.get("simple") for f in doc["fields"]}
        # fields.py also keeps fields the SDK's schema dropped (deprecated ones, protocol.md
        # section 10); where both know a field, its SIMPLE key must agree
        shared = [(d, s) for d, s, _kind in table if d in keys]
        assert len(shared) >= len(table) * 0.8, f"{type_name}: schema and fields.py diverge"
        for default, simple in shared:
            assert keys[default] in (None, simple), f"{type_name}.{default}: SIMPLE key differs"
