"""``upbit-hub emulate`` from a user's point of view: the lines it prints, its option checks,
and the README's script run against it with nothing but those lines."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from upbit_hub.actors.emulator.cli import environment_lines

CMD = [sys.executable, "-m", "upbit_hub.actors.cli", "emulate"]
README = Path(__file__).resolve().parent.parent / "README.md"
EXPORTS = 5  # three URLs, two keys


@pytest.fixture
def emulate():
    """``emulate(*args)`` -> ``(proc, first line, {name: value} of the export lines)``."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, str, dict[str, str]]:
        proc = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
        procs.append(proc)
        url = proc.stdout.readline().strip()
        env: dict[str, str] = {}
        for _ in range(EXPORTS):  # readline blocks until the line is there (it is flushed)
            line = proc.stdout.readline()
            assert line.startswith("export "), f"not an export line: {line!r}"
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = shlex.split(value)[0]
        return proc, url, env

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_after_the_url_come_the_export_lines_with_the_public_key_pair(emulate):
    proc, url, env = emulate("--port", "0")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    hostport = url.removeprefix("http://")
    assert env == {
        "UPBIT_HUB_REST_URL": url,
        "UPBIT_HUB_WEBSOCKET_URL": f"ws://{hostport}/websocket/v1",
        "UPBIT_HUB_PRIVATE_WEBSOCKET_URL": f"ws://{hostport}/websocket/v1/private",
        "UPBIT_ACCESS_KEY": "emulator-access-key",
        "UPBIT_SECRET_KEY": "emulator-secret-key",
    }
    proc.terminate()
    assert proc.wait(15) == 0


def test_custom_keys_are_the_ones_printed_and_shell_quoted(emulate):
    _, _, env = emulate("--access-key", "my access", "--secret-key", "s3cr'et")
    assert env["UPBIT_ACCESS_KEY"] == "my access"
    assert env["UPBIT_SECRET_KEY"] == "s3cr'et"


def test_environment_lines_name_the_loader_overrides_and_the_auth_defaults():
    from upbit_hub.config.loader import ENV_OVERRIDES, settings_from_mapping
    from upbit_hub.config.settings import AuthSettings

    lines = environment_lines("http://127.0.0.1:8080", "ak", "sk")
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in lines)
    assert set(ENV_OVERRIDES) <= set(env)
    auth = AuthSettings()
    assert (env[auth.access_key_env], env[auth.secret_key_env]) == ("ak", "sk")
    settings = settings_from_mapping({}, environ=env)  # what a hub started with them reads
    assert settings.upbit.rest_url == "http://127.0.0.1:8080"
    assert settings.upbit.private_websocket_url == "ws://127.0.0.1:8080/websocket/v1/private"


def test_log_level_is_case_insensitive(emulate):
    proc, url, _ = emulate("--log-level", "debug")
    assert url.startswith("http://")
    proc.terminate()
    assert proc.wait(15) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "99999"],
     "argument --port: must be a port number from 0 to 65535 (0 picks a free port), got 99999"),
    (["--port", "http"], "argument --port: expected a whole number, got 'http'"),
    (["--rate", "-1"], "argument --rate: must be >= 0, got -1"),
    (["--idle-timeout", "0"], "argument --idle-timeout: must be > 0, got 0"),
    (["--drop-every", "-5"], "argument --drop-every: must be > 0, got -5"),
    (["--tick-ms", "0"], "argument --tick-ms: must be >= 1, got 0"),
    (["--up-period", "nan"], "argument --up-period: expected a finite number, got 'nan'"),
    (["--connect-limit", "0"], "argument --connect-limit: must be >= 1, got 0"),
    (["--log-level", "verbose"], "argument --log-level: unknown log level 'verbose': "
                                 "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)"),
    (["--markets", "krw-btc"], "argument --markets: market codes look like KRW-BTC"),
])  # fmt: skip
def test_a_bad_option_is_one_error_line_and_exit_2_without_a_traceback(args, message):
    proc = subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"upbit-hub emulate: error: {message}")


def _readme_script() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Using the emulator from your own code"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_script_runs_against_emulate_with_only_the_printed_lines(emulate, tmp_path):
    script = tmp_path / "demo.py"
    script.write_text(_readme_script(), encoding="utf-8")
    proc, _, exported = emulate()
    # nothing but the printed lines: no config file, no key or URL of our own
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPBIT_")}
    env.update(exported)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=90, env=env, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("ticker KRW-BTC ")
    trades = [line for line in lines if line.startswith("trade KRW-BTC ")]
    assert len(trades) >= 5
    accounts = {line.split()[1] for line in lines if line.startswith("account ")}
    assert "KRW" in accounts  # signed REST with the emulator's key pair
    assert proc.poll() is None  # the emulator is still serving
