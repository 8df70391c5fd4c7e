"""``upbit-hub emulate`` as a real subprocess: URL first, serves, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest
import requests

from upbit_hub.actors.emulator.ws_client import WsProbe

CMD = [sys.executable, "-m", "upbit_hub.actors.cli", "emulate"]


@pytest.fixture
def run_cli():
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([*CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_emulate_prints_its_url_first_serves_and_exits_0_on_a_signal(run_cli, sig):
    proc = run_cli("--port", "0", "--markets", "KRW-BTC,KRW-ETH", "--rate", "300",
                   "--seed", "3")
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:")
    markets = requests.get(url + "/v1/market/all", timeout=5)
    assert markets.status_code == 200
    probe = WsProbe.connect(url.replace("http", "ws") + "/websocket/v1")
    probe.send_json([{"ticket": "t"}, {"type": "trade", "codes": ["KRW-ETH"]}])
    assert probe.recv_json()["code"] == "KRW-ETH"
    probe.close()
    proc.send_signal(sig)
    assert proc.wait(15) == 0


def test_emulate_fault_flags_and_control_rest_work_from_another_process(run_cli):
    proc = run_cli("--text-frames", "--idle-timeout", "0.5", "--access-key", "ak",
                   "--secret-key", "sk")
    url = proc.stdout.readline().strip()
    probe = WsProbe.connect(url.replace("http", "ws") + "/websocket/v1")
    probe.send_json([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}])
    assert probe.recv_frame().opcode == 1  # --text-frames
    stats = requests.get(url + "/_emulator/stats", timeout=5).json()
    assert stats["open_connections"]["public"] == 1
    requests.post(url + "/_emulator/faults/drop", params={"close_frame": 0}, timeout=5)
    assert probe.wait_closed() == 1006
    idle = WsProbe.connect(url.replace("http", "ws") + "/websocket/v1")
    assert idle.wait_closed(timeout=5) == 1006  # --idle-timeout 0.5
    proc.terminate()
    assert proc.wait(15) == 0


def test_emulate_fails_with_status_2_and_a_message_when_the_port_is_taken(run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = run_cli("--port", str(taken.getsockname()[1]))
        assert proc.wait(15) == 2
        assert "cannot start" in proc.stderr.read()


@pytest.mark.parametrize("bad", [["--markets", "krw-btc"], ["--rate", "-1"], ["--markets", ","]])
def test_emulate_rejects_bad_arguments_with_a_usage_error(run_cli, bad):
    proc = run_cli(*bad)
    assert proc.wait(15) == 2
    assert "usage" in proc.stderr.read()
