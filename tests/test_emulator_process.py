"""The emulator in its own process (what the chaos runs use): commands over the pipe, clear
errors, and no child left behind."""

from __future__ import annotations

import pytest
import requests

from upbit_hub.actors.emulator.process import EmulatorProcess, EmulatorProcessError


def test_an_emulator_process_serves_and_obeys_commands(eventually):
    emu = EmulatorProcess(markets=("KRW-BTC",), rate=200, seed=3)
    try:
        r = requests.get(f"{emu.base_url}/v1/ticker", params={"markets": "KRW-BTC"}, timeout=5)
        assert r.status_code == 200 and r.json()[0]["market"] == "KRW-BTC"
        eventually(lambda: len(emu.trades().get("KRW-BTC", [])) >= 5)
        sids = emu.trades()["KRW-BTC"]
        assert sids == sorted(sids)
        assert len(emu.book("KRW-BTC")) == 30
        emu.fault("refuse_connections", 5.0, status=503)
        r = requests.get(f"{emu.base_url}/websocket/v1", timeout=5)
        assert r.status_code == 503
        emu.fault("clear")
        assert emu.connections() == [] and emu.order_history() == []
        with pytest.raises(ValueError, match="unknown fault"):
            emu.fault("explode")
        with pytest.raises(EmulatorProcessError, match="book failed"):
            emu.book("KRW-NOPE")
    finally:
        emu.stop()
    assert emu._proc.poll() is not None  # the child is gone
    emu.stop()  # idempotent


def test_a_bad_emulator_option_is_a_clear_error():
    with pytest.raises(EmulatorProcessError, match="failed in the emulator process"):
        EmulatorProcess(no_such_option=1)
