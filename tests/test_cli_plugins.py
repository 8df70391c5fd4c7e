"""``upbit-hub plugins`` exit status: 0 when every plugin loads, 1 when one does not."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from upbit_hub.plugins import list_cmd

CMD = [sys.executable, "-m", "upbit_hub.actors.cli", "plugins"]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    list_cmd.add_arguments(parser)
    return parser.parse_args(argv)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = list_cmd.main(_args(*argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def broken_site(tmp_path) -> Path:
    """A distribution with one plugin that raises at import, as a PYTHONPATH folder."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "uh_cli_broken.py").write_text('raise ImportError("needs numpy")\n')
    info = site / "cli_broken-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cli-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[upbit_hub.plugins]\nbroken = uh_cli_broken:Thing\n")
    return site


def test_the_built_in_plugins_all_load_so_the_command_exits_0():
    code, out, err = _run()
    assert code == 0, out + err
    assert out.splitlines()[-1].endswith(", 0 not loaded")
    assert {"ticker-board", "spread-alert", "recorder"} <= {
        line.split()[0] for line in out.splitlines()[1:-1]
    }


def test_a_name_that_is_not_installed_exits_1_and_still_prints_the_table():
    code, out, _ = _run("ticker-board", "tikcer-board")
    assert code == 1
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert rows == {"ticker-board": "loaded", "tikcer-board": "not_found"}
    assert "did you mean 'ticker-board'?" in out


def test_a_broken_plugin_installed_makes_the_console_command_exit_1(broken_site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(broken_site), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    proc = subprocess.run(CMD, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:-1]}
    assert rows["broken"].split()[1] == "load_error"
    assert "import failed: ImportError: needs numpy" in rows["broken"]
    assert rows["ticker-board"].split()[1] == "loaded"


def test_a_valid_config_exits_0(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[[components]]\nplugin = "ticker-board"\nid = "board"\n')
    code, _, err = _run("--config", str(path))
    assert (code, err) == (0, "")


def test_config_problems_are_listed_on_stderr_and_exit_1(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text(textwrap.dedent("""\
        [[components]]
        plugin = "recorder"
        id = "rec"
        [components.params]
        path = "rec.jsonl"
        types = ["tickers"]

        [[components]]
        plugin = "ticker-bord"
        id = "board"
        """))
    code, out, err = _run("--config", str(path))
    assert code == 1
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert rows["ticker-bord"] == "not_found"  # the configured plugin joins the table
    lines = err.splitlines()
    assert lines[0] == f"{path}: 2 problem(s)"
    assert lines[1].startswith("  - components[0].params.types[0]: must be one of 'ticker', ")
    assert lines[2].startswith("  - components[1].plugin: plugin 'ticker-bord' not_found")


def test_a_disabled_components_plugin_is_not_checked(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text('[[components]]\nplugin = "not-installed"\nid = "x"\nenabled = false\n')
    code, out, err = _run("--config", str(path))
    assert (code, err) == (0, "")
    assert "not-installed" not in out
