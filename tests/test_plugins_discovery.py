"""Plugin discovery against real entry points from a throwaway distribution on sys.path."""

from __future__ import annotations

import argparse
import io
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from upbit_hub.config import check_cmd
from upbit_hub.config.loader import settings_from_mapping
from upbit_hub.plugins import list_cmd
from upbit_hub.plugins.discovery import discover_plugins, resolve_components

_COUNTER = itertools.count()

GOOD_SOURCE = """
import msgspec


class Config(msgspec.Struct, frozen=True, kw_only=True):
    symbols: list[str]
    depth: int = 15


class GoodPlugin:
    Config = Config

    def __init__(self, config):
        self.config = config

    def on_start(self, ctx):
        pass


class NoConfig:
    def on_start(self, ctx):
        pass


class NoHooks:
    pass


class BadConfig:
    Config = dict

    def on_start(self, ctx):
        pass


not_a_class = 42
"""


@dataclass
class FakeDist:
    site: Path
    good: str
    broken: str
    exits: str


@pytest.fixture
def fake_dist(tmp_path, monkeypatch) -> Iterator[FakeDist]:
    """A distribution 'fake-plugins 1.2' with good and broken plugins, put on sys.path."""
    n = next(_COUNTER)
    good, broken, exits = f"uhfake_good_{n}", f"uhfake_broken_{n}", f"uhfake_exits_{n}"
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{good}.py").write_text(GOOD_SOURCE)
    (site / f"{broken}.py").write_text(
        'raise RuntimeError("boom: plugin misconfigured\\nsecond line")\n'
    )
    (site / f"{exits}.py").write_text("import sys\nsys.exit(3)\n")
    info = site / "fake_plugins-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(f"""\
        [upbit_hub.plugins]
        good = {good}:GoodPlugin
        bare = {good}:NoConfig
        no-hooks = {good}:NoHooks
        bad-config = {good}:BadConfig
        not-a-class = {good}:not_a_class
        missing-attr = {good}:Nope
        broken = {broken}:Thing
        exits = {exits}:Thing
        """)
    )
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib caches
    yield FakeDist(site, good, broken, exits)
    for mod in (good, broken, exits):
        sys.modules.pop(mod, None)


NAMES = ("good", "bare", "no-hooks", "bad-config", "not-a-class", "missing-attr", "broken", "exits")


def test_every_entry_point_gets_a_status_and_broken_ones_do_not_stop_the_others(fake_dist):
    found = discover_plugins()
    assert set(NAMES) <= set(found)
    states = {n: found[n].state for n in NAMES}
    assert states == {
        "good": "loaded",
        "bare": "loaded",
        "no-hooks": "load_error",
        "bad-config": "load_error",
        "not-a-class": "load_error",
        "missing-attr": "load_error",
        "broken": "load_error",
        "exits": "load_error",
    }


def test_a_loaded_plugin_record_carries_the_class_distribution_and_target(fake_dist):
    status = discover_plugins(["good"])["good"]
    assert status.state == "loaded" and status.error is None
    assert status.dist == "fake-plugins 1.2"
    assert status.value == f"{fake_dist.good}:GoodPlugin"
    assert status.plugin is not None and status.plugin.__name__ == "GoodPlugin"
    assert status.config_type is status.plugin.Config


def test_an_exception_at_import_is_a_one_line_load_error(fake_dist):
    status = discover_plugins(["broken"])["broken"]
    assert status.state == "load_error" and status.plugin is None
    assert status.error == "import failed: RuntimeError: boom: plugin misconfigured"
    assert status.dist == "fake-plugins 1.2"


def test_system_exit_at_import_does_not_escape(fake_dist):
    status = discover_plugins(["exits", "good"])
    assert status["exits"].state == "load_error"
    assert status["exits"].error == "import failed: SystemExit: 3"
    assert status["good"].state == "loaded"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("not-a-class", "not a class: entry point gives int 42"),
        ("no-hooks", "class NoHooks has no on_start() and does not subclass Component"),
        ("bad-config", "BadConfig.Config must be a msgspec.Struct subclass or None"),
        ("missing-attr", "AttributeError"),
    ],
)
def test_an_object_that_is_not_a_plugin_class_is_a_clear_load_error(fake_dist, name, fragment):
    status = discover_plugins([name])[name]
    assert status.state == "load_error"
    assert fragment in status.error


def test_asking_for_some_names_loads_only_those(fake_dist):
    found = discover_plugins(["good"])
    assert list(found) == ["good"]
    assert fake_dist.broken not in sys.modules


def test_an_unknown_name_is_not_found_with_a_suggestion(fake_dist):
    status = discover_plugins(["goood"])["goood"]
    assert status.state == "not_found" and status.plugin is None
    assert "did you mean 'good'?" in status.error


def _settings(*components: dict):
    return settings_from_mapping({"components": list(components)})


def test_resolve_components_validates_params_into_the_plugin_config(fake_dist):
    (rc,) = resolve_components(
        _settings({"plugin": "good", "id": "g", "params": {"symbols": ["KRW-BTC"]}})
    )
    assert rc.ok and rc.problems == ()
    assert rc.status.state == "loaded"
    assert rc.config == rc.status.plugin.Config(symbols=["KRW-BTC"], depth=15)
    assert rc.component.id == "g" and rc.index == 0


def test_resolve_components_marks_each_kind_of_problem(fake_dist):
    settings = _settings(
        {"plugin": "good", "id": "ok", "params": {"symbols": ["KRW-BTC"]}},
        {"plugin": "good", "id": "typo", "params": {"symbls": ["KRW-BTC"], "depth": "x"}},
        {"plugin": "broken", "id": "off", "enabled": False},
        {"plugin": "bare", "id": "extra", "params": {"x": 1}},
        {"plugin": "nope-nothing", "id": "missing"},
        {"plugin": "broken", "id": "crash"},
    )
    resolved = resolve_components(settings)
    assert [r.status.state for r in resolved] == [
        "loaded", "config_error", "disabled", "config_error", "not_found", "load_error",
    ]  # fmt: skip
    typo = resolved[1]
    assert typo.config is None and not typo.ok
    assert typo.problems == (
        "unknown key 'components[1].params.symbls' — did you mean 'symbols'?",
        "components[1].params.symbols: missing required key",
        "components[1].params.depth: expected `int`, got `str`",
    )
    assert typo.status.error.endswith("(+2 more)")
    assert resolved[2].problems == () and not resolved[2].ok
    assert "takes no params" in resolved[3].problems[0]
    assert (
        resolved[4].problems[0].startswith("components[4].plugin: plugin 'nope-nothing' not_found")
    )
    assert "RuntimeError: boom" in resolved[5].problems[0]


def test_a_disabled_component_does_not_import_its_plugin(fake_dist):
    (rc,) = resolve_components(_settings({"plugin": "broken", "id": "off", "enabled": False}))
    assert rc.status.state == "disabled" and rc.status.dist == "fake-plugins 1.2"
    assert fake_dist.broken not in sys.modules


def test_resolve_components_reuses_a_given_discovery_result(fake_dist):
    plugins = discover_plugins(["good"])
    (rc,) = resolve_components(
        _settings({"plugin": "good", "id": "g", "params": {"symbols": []}}), plugins
    )
    assert rc.status.plugin is plugins["good"].plugin


def test_check_config_reports_plugin_problems_with_key_paths(fake_dist, tmp_path, capsys):
    path = tmp_path / "hub.toml"
    path.write_text(
        textwrap.dedent("""\
        [[components]]
        plugin = "good"
        id = "a"
        [components.params]
        symbls = ["KRW-BTC"]

        [[components]]
        plugin = "broken"
        id = "b"
        """)
    )
    parser = argparse.ArgumentParser()
    check_cmd.add_arguments(parser)
    assert check_cmd.main(parser.parse_args([str(path)])) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}: 3 problem(s)"
    assert "  - unknown key 'components[0].params.symbls' — did you mean 'symbols'?" in err
    assert "  - components[0].params.symbols: missing required key" in err
    assert any(
        line.startswith("  - components[1].plugin: plugin 'broken' load_error") for line in err
    )


def test_check_config_reports_plugin_problems_even_when_the_schema_fails(fake_dist, tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text(
        textwrap.dedent("""\
        [hub]
        ping_intervl_s = 5

        [[components]]
        plugin = "good"
        id = "bad id"
        [components.params]
        symbols = "KRW-BTC"

        [[components]]
        plugin = "broken"
        id = "b"
        enabled = false
        """)
    )
    settings, problems = check_cmd.check(str(path))
    assert settings is None
    assert problems == [
        "unknown key 'hub.ping_intervl_s' — did you mean 'ping_interval_s'?",
        "components[0].id: expected `str` matching regex '^[A-Za-z0-9_.-]+$', got 'bad id'",
        "components[0].params.symbols: expected `array`, got `str`",
    ]
    assert fake_dist.broken not in sys.modules  # the disabled entry's plugin was not imported


def test_plugins_command_prints_a_table_in_process_and_exits_1_for_a_broken_one(fake_dist):
    out = io.StringIO()
    assert list_cmd.main(argparse.Namespace(names=["good", "broken"]), out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "STATE", "DISTRIBUTION", "TARGET", "ERROR"]
    row = {line.split()[0]: line for line in lines[1:-1]}
    assert row["good"].split()[:5] == [
        "good",
        "loaded",
        "fake-plugins",
        "1.2",
        f"{fake_dist.good}:GoodPlugin",
    ]
    assert "import failed: RuntimeError: boom" in row["broken"]
    assert lines[-1] == "2 plugin(s), 1 not loaded"


def test_the_plugins_console_script_lists_good_and_broken_plugins_and_exits_1(fake_dist):
    exe = shutil.which("upbit-hub") or str(Path(sys.executable).with_name("upbit-hub"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_dist.site), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run([exe, "plugins"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[1:-1]}
    assert rows["good"] == "loaded"
    assert rows["exits"] == "load_error"
    assert rows["not-a-class"] == "load_error"
