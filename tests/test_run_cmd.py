"""``upbit-hub run``: real processes with a throwaway plugin package installed by pip."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from upbit_hub.actors import run_cmd
from upbit_hub.config.settings import AuthSettings

PLUGIN_FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "uhrun-plugins"
        version = "0.3.0"

        [project.entry-points."upbit_hub.plugins"]
        uhrun-probe = "uhrun_plugins.probe:Probe"
        uhrun-strict = "uhrun_plugins.strict:Strict"
        uhrun-raiser = "uhrun_plugins.raiser:Raiser"
        uhrun-boom = "uhrun_plugins.boom:Boom"
        uhrun-hang-start = "uhrun_plugins.hang:HangStart"
        uhrun-hang-stop = "uhrun_plugins.hang:HangStop"

        [tool.setuptools]
        packages = ["uhrun_plugins"]
    """,
    "uhrun_plugins/__init__.py": "",
    "uhrun_plugins/probe.py": """
        import msgspec
        from upbit_hub.plugins import Component


        class ProbeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
            out: str
            symbols: list[str] = msgspec.field(default_factory=lambda: ["KRW-BTC"])


        class Probe(Component):
            name = "probe"
            Config = ProbeConfig

            def on_start(self, ctx):
                self.fh = open(self.config.out, "a", buffering=1)
                ctx.subscribe_ticker(self.config.symbols)
                ctx.subscribe_trade(self.config.symbols)
                ctx.subscribe_orderbook(self.config.symbols, depth=5)
                ctx.subscribe_my_asset()  # needs the emulator keys handed over by --sim
                self.fh.write(f"started {ctx.id} {ctx.logger.name}\\n")

            def on_ticker(self, ev):
                self._write(ev, ev.trade_price)

            def on_trade(self, ev):
                self._write(ev, ev.trade_volume)

            def on_orderbook(self, ev):
                self._write(ev, len(ev.orderbook_units))

            def _write(self, ev, value):
                self.fh.write(f"{type(ev).__name__} {ev.symbol} {type(value).__name__} {value}\\n")

            def on_stop(self):
                self.fh.write("stopped\\n")
                self.fh.close()
    """,
    "uhrun_plugins/strict.py": """
        import msgspec
        from upbit_hub.plugins import Component


        class Strict(Component):
            class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
                threshold: int
    """,
    "uhrun_plugins/raiser.py": """
        from upbit_hub.plugins import Component


        class Raiser(Component):
            def on_start(self, ctx):
                ctx.subscribe_ticker(["KRW-ETH"])

            def on_ticker(self, ev):
                raise ValueError(f"bad tick {ev.trade_price}")
    """,
    "uhrun_plugins/hang.py": """
        import threading

        from upbit_hub.plugins import Component


        class HangStart(Component):
            def on_start(self, ctx):
                threading.Event().wait()  # never returns


        class HangStop(Component):
            def on_start(self, ctx):
                ctx.subscribe_ticker(["KRW-BTC"])

            def on_ticker(self, ev):
                pass

            def on_stop(self):
                threading.Event().wait()  # never returns
    """,
    "uhrun_plugins/boom.py": """
        raise ImportError("boom: optional dependency 'talib' is not installed")
    """,
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The throwaway plugin distribution, pip-installed into its own --target directory."""
    root = tmp_path_factory.mktemp("uhrun")
    src, target = root / "src", root / "site"
    for name, text in PLUGIN_FILES.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    base = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
            "--disable-pip-version-check", "--target", str(target), str(src)]
    # Offline when the installed setuptools can build wheels itself; else pip fetches the
    # build backend from the package index into an isolated build environment.
    done = None
    if _can_build_wheels_offline():
        done = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True)
    if done is None or done.returncode != 0:
        done = subprocess.run(base, capture_output=True, text=True)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    assert (target / "uhrun_plugins" / "probe.py").exists()
    return target


def _can_build_wheels_offline() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    version = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    return version >= (70, 1) or importlib.util.find_spec("wheel") is not None


def _env(extra_path: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UPBIT_HUB_", "UPBIT_ACCESS", "UPBIT_SECRET"))}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path),
                                                          env.get("PYTHONPATH")]))
    return env


class RunningHub:
    """``upbit-hub run`` as a subprocess, its stdout/stderr in files (no pipe can fill up)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.out, self.err = cwd / "stdout.txt", cwd / "stderr.txt"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "upbit_hub.actors.cli", "run", *args],
                cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_for(self, pred, eventually, timeout: float = 15.0) -> None:
        """Wait until ``pred()`` while the process lives; fail with its log otherwise."""
        try:
            eventually(lambda: self.proc.poll() is not None or pred(), timeout)
        except AssertionError:
            pytest.fail(f"condition not met within {timeout}s; log:\n{self.log()[-4000:]}")
        if self.proc.poll() is not None:
            pytest.fail(f"upbit-hub run exited early ({self.proc.returncode}):\n{self.log()}")

    def terminate(self, timeout: float = 20.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _status_errors(log: str) -> int:
    found = re.findall(r"status: .* errors=(\d+) ", log)
    return int(found[-1]) if found else 0


def test_a_pip_installed_plugin_gets_typed_events_and_broken_ones_are_reported(
    plugin_site, tmp_path, eventually
):
    probe_out = tmp_path / "probe.txt"
    config = tmp_path / "hub.toml"
    config.write_text(textwrap.dedent(f"""
        [status]
        interval_s = 0.5

        [emulator]
        markets = ["KRW-BTC", "KRW-ETH"]
        rate = 300.0

        [[components]]
        plugin = "uhrun-boom"
        id = "boom"

        [[components]]
        plugin = "uhrun-probe"
        id = "probe"
        [components.params]
        out = "{probe_out}"
        symbols = ["KRW-BTC", "KRW-ETH"]

        [[components]]
        plugin = "uhrun-strict"
        id = "strict"
        [components.params]
        threshold = "high"

        [[components]]
        plugin = "uhrun-raiser"
        id = "raiser"
    """))
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env(plugin_site))
    try:
        def probe_saw_everything() -> bool:
            text = probe_out.read_text() if probe_out.exists() else ""
            return all(f"\n{name} " in text
                       for name in ("TickerEvent", "TradeEvent", "OrderbookEvent"))

        run.wait_for(probe_saw_everything, eventually)
        run.wait_for(lambda: _status_errors(run.log()) >= 2, eventually)
        rc = run.terminate()
    finally:
        run.kill()
    log = run.log()
    assert rc == 0, log

    lines = probe_out.read_text().splitlines()
    assert lines[0] == "started probe upbit_hub.component.probe"
    assert lines[-1] == "stopped"
    kinds = {tuple(line.split()[:3]) for line in lines[1:-1]}
    assert {("TickerEvent", "KRW-BTC", "Decimal"), ("TickerEvent", "KRW-ETH", "Decimal"),
            ("TradeEvent", "KRW-BTC", "Decimal"), ("OrderbookEvent", "KRW-ETH", "int")} <= kinds
    assert {line.split()[3] for line in lines[1:-1] if line.startswith("OrderbookEvent")} == {"5"}

    assert ("component boom (uhrun-boom): FAILED: components[0].plugin: plugin 'uhrun-boom' "
            "load_error: import failed: ImportError: boom: optional dependency 'talib' is not "
            "installed") in log
    assert ("component strict (uhrun-strict): FAILED: components[2].params.threshold: "
            "expected `int`, got `str`") in log
    assert "component probe (uhrun-probe): running" in log
    assert "component raiser (uhrun-raiser): running" in log
    assert "component raiser: callback for ticker KRW-ETH raised" in log
    assert "ValueError: bad tick" in log
    status = [line for line in log.splitlines() if "status: public=connected" in line]
    assert status and "private=connected" in status[-1]
    assert "components=4 running=2 failed=2" in status[-1]
    assert "SIGTERM received: stopping" in log
    assert log.rstrip().splitlines()[-1].endswith("threads at exit: MainThread")
    assert "emulator-secret-key" not in log and "emulator-secret-key" not in run.out.read_text()


def test_run_sim_without_a_config_runs_the_packaged_built_in_components(tmp_path, eventually):
    run = RunningHub(["--sim", "--status-interval", "0.5"], tmp_path, _env())
    try:
        def running() -> bool:
            return bool(re.search(r"status: public=connected .*ticker=\d+/s.*components=4 "
                                  r"running=3 failed=0", run.log()))

        run.wait_for(running, eventually)
        rc = run.terminate()
    finally:
        run.kill()
    log = run.log()
    assert rc == 0, log
    for line in ("component board (ticker-board): running",
                 "component spreads (spread-alert): running",
                 "component maker (quote-trader): running",
                 "component rec (recorder): disabled"):
        assert line in log
    assert log.rstrip().splitlines()[-1].endswith("threads at exit: MainThread")
    assert not (tmp_path / "recordings").exists()  # the disabled recorder wrote nothing


def test_with_no_component_configured_run_warns_and_still_shows_the_status(tmp_path, eventually):
    config = tmp_path / "empty.toml"
    config.write_text('[status]\ninterval_s = 0.3\n')
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env())
    try:
        run.wait_for(lambda: "status: public=" in run.log(), eventually)
        rc = run.terminate()
    finally:
        run.kill()
    log = run.log()
    assert rc == 0, log
    assert "no component is configured" in log
    assert "components=0 running=0 failed=0" in log


def test_when_every_component_fails_run_exits_1_so_a_supervisor_can_act(tmp_path):
    config = tmp_path / "ghost.toml"
    config.write_text('[status]\ninterval_s = 0.3\n\n[[components]]\nplugin = "no-such-plugin"\n'
                      'id = "ghost"\n')
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env())
    try:
        rc = run.proc.wait(20)
    finally:
        run.kill()
    log = run.log()
    assert rc == 1, log
    assert ("component ghost (no-such-plugin): FAILED: components[0].plugin: plugin "
            "'no-such-plugin' not_found") in log
    assert "every configured component failed (1)" in log
    assert "Traceback" not in log


def test_hanging_plugin_hooks_never_hold_the_others_or_the_shutdown(
    plugin_site, tmp_path, eventually
):
    probe_out = tmp_path / "probe.txt"
    config = tmp_path / "hang.toml"
    config.write_text(textwrap.dedent(f"""
        [status]
        interval_s = 0.3

        [hub]
        component_start_timeout_s = 2.0

        [[components]]
        plugin = "uhrun-hang-start"
        id = "stuck-start"

        [[components]]
        plugin = "uhrun-hang-stop"
        id = "stuck-stop"

        [[components]]
        plugin = "uhrun-probe"
        id = "probe"
        [components.params]
        out = "{probe_out}"
    """))
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env(plugin_site))
    try:
        # the probe starts after the hanging one in config order, yet gets data at once
        run.wait_for(lambda: probe_out.exists() and "TickerEvent" in probe_out.read_text(),
                     eventually, timeout=8)
        run.wait_for(lambda: "status: public=connected" in run.log(), eventually, timeout=20)
        t0 = time.monotonic()
        rc = run.terminate()
        took = time.monotonic() - t0
    finally:
        run.kill()
    log = run.log()
    assert rc == 0, log
    assert took < 5.0, f"SIGTERM took {took:.1f}s"
    assert ("component stuck-start (uhrun-hang-start): FAILED: on_start did not return within "
            "2s") in log
    assert "component stuck-stop: on_stop did not return within" in log
    assert probe_out.read_text().splitlines()[-1] == "stopped"
    assert "Traceback" not in log


def test_a_second_interrupt_leaves_at_once_with_130(plugin_site, tmp_path, eventually):
    config = tmp_path / "hang.toml"
    config.write_text('[status]\ninterval_s = 0.3\n\n[[components]]\nplugin = "uhrun-hang-stop"\n'
                      'id = "stuck-stop"\n')
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env(plugin_site))
    try:
        run.wait_for(lambda: "status: public=connected" in run.log(), eventually, timeout=20)
        run.proc.send_signal(signal.SIGINT)
        run.wait_for(lambda: "SIGINT received: stopping" in run.log(), eventually)
        run.proc.send_signal(signal.SIGINT)
        rc = run.proc.wait(3)
    finally:
        run.kill()
    log = run.log()
    assert rc == 130, log
    assert "second interrupt: leaving now" in log
    assert "KeyboardInterrupt" not in log and "Traceback" not in log


def _args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"config": None, "sim": False, "status_interval": None,
                                 "log_level": None, **kw})


def test_a_settings_error_exits_1_listing_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[upbit]\nfromat = "SIMPLE"\n\n[hub]\nping_interval_s = -1\n'
                   '[[components]]\nid = "x"\n')
    assert run_cmd.main(_args(config=str(bad), sim=True)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{bad}: 3 problem(s)"
    assert "  - unknown key 'upbit.fromat' — did you mean 'format'?" in err
    assert any(line.startswith("  - hub.ping_interval_s: ") for line in err)
    assert "  - components[0].plugin: missing required key" in err

    assert run_cmd.main(_args(config=str(tmp_path / "missing.toml"))) == 1
    assert "cannot read settings file" in capsys.readouterr().err


def test_sim_keys_fill_only_the_unset_variables_named_in_auth():
    auth = AuthSettings(access_key_env="MY_ACCESS", secret_key_env="MY_SECRET")
    env = run_cmd.sim_environ(auth, {"MY_ACCESS": "mine", "MY_SECRET": "", "OTHER": "1"})
    assert env["MY_ACCESS"] == "mine" and env["OTHER"] == "1"
    assert env["MY_SECRET"] == "emulator-secret-key"
    assert "UPBIT_ACCESS_KEY" not in env


@pytest.mark.parametrize("bad", [["--status-interval", "-1"], ["--status-interval", "0"],
                                 ["--log-level", "loud"]])
def test_bad_run_options_give_a_one_line_error_and_exit_2(bad):
    done = subprocess.run([sys.executable, "-m", "upbit_hub.actors.cli", "run", *bad],
                          capture_output=True, text=True, timeout=30, env=_env())
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and bad[0] in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_log_levels_are_case_insensitive():
    from upbit_hub.actors.cli import build_parser

    assert build_parser().parse_args(["run", "--log-level", "debug"]).log_level == "DEBUG"
    assert build_parser().parse_args(["run", "--status-interval", "0.5"]).status_interval == 0.5


def test_run_serves_prometheus_metrics_when_a_port_is_configured(tmp_path, eventually):
    import requests

    config = tmp_path / "metrics.toml"
    config.write_text('[metrics]\nport = 0\n\n[status]\ninterval_s = 0.3\n\n[[components]]\n'
                      'plugin = "ticker-board"\nid = "board"\n')
    run = RunningHub(["--sim", "--config", str(config)], tmp_path, _env())
    try:
        run.wait_for(lambda: re.search(r"metrics on (http://\S+)", run.log()), eventually)
        url = re.search(r"metrics on (http://\S+)", run.log()).group(1)

        def scraped() -> str:
            text = requests.get(url + "/metrics" if not url.endswith("/metrics") else url,
                                timeout=5).text
            return text if re.search(r'upbit_hub_events_total\{.*type="ticker".*\} [1-9]',
                                     text) else ""

        text = eventually(scraped, timeout=15)
        rc = run.terminate()
    finally:
        run.kill()
    assert rc == 0, run.log()
    assert "upbit_hub_reconnects_total" in text
    assert 'upbit_hub_component_handled_total{component="board"' in text
