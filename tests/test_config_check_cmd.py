"""``upbit-hub check-config PATH``: exit codes, summary line, every problem on stderr."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upbit_hub.config import check_cmd

BAD = '[upbit]\nfromat = "SIMPLE"\n\n[hub]\nping_intervl_s = 5\n'


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    check_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_valid_file_exits_zero_with_one_summary_line(tmp_path, capsys):
    path = _write(tmp_path, '[upbit]\nformat = "DEFAULT"\n')
    assert check_cmd.main(_args(path)) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"ok: {path}: DEFAULT via wss://api.upbit.com/websocket/v1, 0 component(s), 0 enabled"
    ]
    assert err == ""


def test_an_invalid_file_exits_one_listing_every_problem_on_stderr(tmp_path, capsys):
    path = _write(tmp_path, BAD)
    assert check_cmd.main(_args(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}: 2 problem(s)",
        "  - unknown key 'upbit.fromat' — did you mean 'format'?",
        "  - unknown key 'hub.ping_intervl_s' — did you mean 'ping_interval_s'?",
    ]


def test_a_component_naming_an_unknown_plugin_is_a_problem(tmp_path, capsys):
    path = _write(tmp_path, '[[components]]\nplugin = "no-such-plugin-xyz"\nid = "a"\n')
    assert check_cmd.main(_args(path)) == 1
    err = capsys.readouterr().err
    assert "components[0].plugin: plugin 'no-such-plugin-xyz' not_found" in err


def test_no_plugins_skips_the_plugin_checks(tmp_path, capsys):
    path = _write(tmp_path, '[[components]]\nplugin = "no-such-plugin-xyz"\nid = "a"\n')
    assert check_cmd.main(_args("--no-plugins", path)) == 0
    assert "1 component(s), 1 enabled" in capsys.readouterr().out


def test_a_disabled_component_is_not_checked_against_plugins(tmp_path, capsys):
    text = '[[components]]\nplugin = "no-such-plugin-xyz"\nid = "a"\nenabled = false\n'
    assert check_cmd.main(_args(_write(tmp_path, text))) == 0
    assert "1 component(s), 0 enabled" in capsys.readouterr().out


def test_the_file_is_checked_as_written_ignoring_environment_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("UPBIT_HUB_WEBSOCKET_URL", "http://not-a-websocket")
    settings, problems = check_cmd.check(_write(tmp_path, ""))
    assert problems == [] and settings is not None
    assert settings.upbit.websocket_url == "wss://api.upbit.com/websocket/v1"


def test_a_missing_file_exits_one(tmp_path, capsys):
    assert check_cmd.main(_args(str(tmp_path / "missing.toml"))) == 1
    assert "cannot read settings file" in capsys.readouterr().err


def test_the_installed_console_script_reports_exit_codes(tmp_path):
    exe = shutil.which("upbit-hub") or str(Path(sys.executable).with_name("upbit-hub"))
    if not Path(exe).exists():
        pytest.fail("console script upbit-hub is not installed (pip install -e .)")
    good = tmp_path / "good.toml"
    good.write_text("[hub]\nping_interval_s = 10\n", encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    ok = subprocess.run(
        [exe, "check-config", str(good)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"ok: {good}")
    fail = subprocess.run(
        [exe, "check-config", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert fail.returncode == 1
    assert "did you mean 'format'" in fail.stderr
    assert "did you mean 'ping_interval_s'" in fail.stderr
