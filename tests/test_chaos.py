"""A short chaos run (CI): the emulator drops, stalls, refuses, sends garbage and error frames
and 429s REST while components come and go; afterwards every promise is checked against the
emulator's ground truth. The long run (30 minutes) is ``python bench/chaos.py --minutes 30``."""

from __future__ import annotations

import logging

import pytest

from upbit_hub.actors.emulator.chaos import run_chaos


@pytest.mark.chaos
@pytest.mark.timeout(180)
def test_a_minute_of_chaos_loses_nothing_and_leaks_nothing(caplog):
    caplog.set_level(logging.ERROR)  # the run logs every fault it survives; keep CI output short
    report = run_chaos(45.0, seed=7, fault_every=4.0, min_live_fraction=0.995)
    print(report.summary())
    assert sum(report.faults.values()) >= 6, report.faults
    assert report.trades_expected > 1000
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.out_of_order == 0
    assert report.private_expected > 0 and report.private_missing == 0
    assert report.private_out_of_order == 0
    assert report.wire_matches
    assert report.actors_growth <= 0 and report.threads_growth <= 0
    assert report.registry_growth == 0
    # 99.9 % is the release bar (bench/chaos.py, a fault every ~8 s, 30 minutes: 99.94 %).
    # This run has twice the fault density and each drop or error frame costs one reconnect
    # (3-10 ms over loopback on 2 cores), measured at 99.87-100 %; the bar here is 99.5 %, which
    # the refusal tails of a burst-spending connect limiter (98.9-99.6 %) did not pass.
    assert report.live_fraction >= 0.995, report.summary()
    assert report.ok, report.problems
