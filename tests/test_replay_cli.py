"""``upbit-hub replay`` from a user's point of view: the URL first, then the export lines, a
server that replays the recording, exit 0 on SIGTERM, and exit 2 with one line naming the
file for a missing or empty recording or a bad --speed."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from upbit_hub.actors.cli import build_parser

CMD = [sys.executable, "-m", "upbit_hub.actors.cli", "replay"]
RECORDING = Path(__file__).parent / "data" / "replay" / "sim_3s.jsonl"
EXPORTS = 5  # three URLs, two keys


@pytest.fixture
def replay_cmd():
    """``replay_cmd(*args)`` -> ``(proc, first line, {name: value} of the export lines)``."""
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
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_the_url_comes_first_then_the_exports_and_the_recording_is_served(replay_cmd,
                                                                          eventually):
    proc, url, env = replay_cmd(str(RECORDING), "--speed", "20x", "--port", "0")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    assert env["UPBIT_HUB_REST_URL"] == url
    assert env["UPBIT_HUB_WEBSOCKET_URL"] == url.replace("http://", "ws://") + "/websocket/v1"
    listed = requests.get(f"{url}/v1/market/all", timeout=5).json()
    assert [m["market"] for m in listed] == ["KRW-BTC", "KRW-ETH"]

    expected = RECORDING.read_text().count('"type":"trade","code":"KRW-BTC"')

    def all_trades() -> bool:
        reply = requests.get(f"{url}/v1/trades/ticks",
                             params={"market": "KRW-BTC", "count": 500}, timeout=5)
        return reply.status_code == 200 and len(reply.json()) == expected

    eventually(all_trades, timeout=10, interval=0.25)  # within Upbit's 10/s
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert "replay finished: 353 events" in proc.stderr.read()


def test_wait_for_subscriber_holds_the_clock_until_a_public_subscription(replay_cmd):
    from upbit_hub.actors.emulator.ws_client import WsProbe

    proc, url, _env = replay_cmd(str(RECORDING), "--speed", "20x", "--wait-for-subscriber")
    ticks = f"{url}/v1/trades/ticks"
    assert requests.get(ticks, params={"market": "KRW-BTC"}, timeout=5).json() == []
    probe = WsProbe.connect(url.replace("http://", "ws://") + "/websocket/v1")
    try:
        probe.send_json([{"ticket": "t"}, {"type": "trade", "codes": ["KRW-BTC"]}])
        first = probe.recv_json(timeout=10)  # nothing replayed before it: no snapshot
        assert first["stream_type"] == "REALTIME"
        assert first["sequential_id"] == json.loads(
            next(line for line in RECORDING.read_text().splitlines()
                 if '"type":"trade","code":"KRW-BTC"' in line))["sequential_id"]
    finally:
        probe.close()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=60)


def test_a_missing_recording_is_exit_2_with_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope.jsonl"
    done = run(str(missing))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0], done.stderr


def test_an_empty_recording_is_exit_2_naming_it(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    done = run(str(empty))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(empty) in lines[0] and "no market events" in lines[0]


@pytest.mark.parametrize("speed", ["max", "0x", "fast"])
def test_a_bad_speed_is_exit_2(speed, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["replay", str(RECORDING), "--speed", speed])
    assert info.value.code == 2
    assert "argument --speed" in capsys.readouterr().err


def test_speed_parses_like_the_backtests():
    args = build_parser().parse_args(["replay", str(RECORDING), "--speed", "10x"])
    assert args.speed == 10.0 and args.recordings == [str(RECORDING)]
    assert build_parser().parse_args(["replay", str(RECORDING)]).speed == 1.0
