"""The order journal makes every intent durable before it returns, survives a crash (a torn
last line, SIGKILL), refuses a second hub, compacts atomically and keeps Decimals exact;
client ids are unique, short, sortable and reproducible with a seed."""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal as D
from pathlib import Path

import pytest

from upbit_hub.actors.protocol.errors import JournalError, TradingError, UpbitHubError
from upbit_hub.actors.trading.ids import client_id_time_ms, new_client_id
from upbit_hub.actors.trading.journal import Journal
from upbit_hub.actors.trading.types import OrderRequest

T0 = 1_773_240_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingJournal(Journal):
    """Counts the fsyncs (a seam: the durable points of the journal)."""

    syncs = 0

    def _sync(self) -> None:
        self.syncs += 1
        super()._sync()


def request(client_id: str = "uh-1", **kw) -> OrderRequest:
    base = dict(client_id=client_id, component_id="grid", market="KRW-BTC", side="bid",
                ord_type="limit", price=D("103460000"), volume=D("0.00050000"),
                created_at=T0)  # fmt: skip
    base.update(kw)
    return OrderRequest(**base)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "trading" / "orders.jsonl"


@pytest.fixture
def journal(path: Path):
    j = Journal(path, clock=Clock()).open()
    yield j
    j.close()


def test_an_intent_is_in_the_file_when_record_intent_returns(journal, path):
    journal.record_intent(request("uh-durable"))
    with open(path, "rb") as other:  # another handle, as a restarted process would read it
        lines = [json.loads(line) for line in other.read().splitlines()]
    intents = [rec for rec in lines if rec["k"] == "intent"]
    assert intents[0]["request"]["client_id"] == "uh-durable"
    assert intents[0]["request"]["price"] == "103460000"
    assert Journal(path).load().get("uh-durable").request == request("uh-durable")


def test_intents_final_states_unknown_and_the_kill_switch_are_fsynced_other_states_flushed(path):
    j = CountingJournal(path, clock=Clock()).open()
    base = j.syncs
    j.record_intent(request())
    assert j.syncs == base + 1
    j.record_state("uh-1", "submitted")
    j.record_state("uh-1", "wait", uuid="u-1")
    j.record_state("uh-1", "trade")
    assert j.syncs == base + 1
    assert Journal(path).load().get("uh-1").state == "trade"  # flushed: readable at once
    j.record_state("uh-1", "unknown", reason="read timeout")
    j.record_state("uh-1", "done")
    j.record_halt("operator")
    j.record_reset()
    assert j.syncs == base + 5
    j.close()


def test_the_journal_tells_each_orders_last_state_uuid_and_reason(journal, path):
    journal.record_intent(request("uh-a"))
    journal.record_intent(request("uh-b", side="ask", ord_type="market", price=None))
    journal.record_intent(request("uh-c"))
    journal.record_state("uh-a", "submitted")
    journal.record_state("uh-a", "wait", uuid="82fe9b72-eb0f-462b-8e0e-e74ad844acea")
    journal.record_state("uh-a", "trade")  # no uuid here: the earlier one is kept
    journal.record_state("uh-b", "rejected", reason="insufficient_funds_ask")
    state = Journal(path).load()
    a = state.get("uh-a")
    assert (a.state, a.uuid, a.reason) == ("trade", "82fe9b72-eb0f-462b-8e0e-e74ad844acea", None)
    assert state.get("uh-b").final and state.get("uh-b").reason == "insufficient_funds_ask"
    assert state.get("uh-c").state is None  # journaled, maybe sent: to be looked up
    assert [e.client_id for e in state.open_entries()] == ["uh-a", "uh-c"]
    assert journal.state.get("uh-a").uuid == a.uuid  # the open journal's own view agrees


def test_a_state_without_its_intent_is_kept_but_not_offered_for_recovery(journal, path, caplog):
    journal.record_state("uh-stray", "wait", uuid="u-stray")
    assert "without an intent" in caplog.text
    state = Journal(path).load()
    assert state.get("uh-stray").request is None and state.get("uh-stray").uuid == "u-stray"
    assert state.open_entries() == []


def test_decimals_survive_exactly(journal, path):
    odd = request("uh-dec", price=D("1E+7"), volume=D("0.00000001"))
    trailing = request("uh-zeros", price=D("5000.000"), volume=D("1.10"))
    journal.record_intent(odd)
    journal.record_intent(trailing)
    state = Journal(path).load()
    assert state.get("uh-dec").request == odd
    assert str(state.get("uh-zeros").request.price) == "5000.000"
    assert str(state.get("uh-zeros").request.volume) == "1.10"


def test_a_torn_last_line_is_skipped_with_a_warning_and_cut_off_on_open(path, caplog):
    j = Journal(path, clock=Clock()).open()
    j.record_intent(request("uh-kept"))
    j.close()
    with open(path, "ab") as f:  # the process died in the middle of the next write
        f.write(b'{"k":"intent","at":1773240001.0,"request":{"client_id":"uh-torn","mar')
    state = Journal(path).load()
    assert state.torn_tail
    assert list(state.entries) == ["uh-kept"]
    assert "torn last line" in caplog.text and str(path) in caplog.text
    j = Journal(path, clock=Clock()).open()
    assert list(j.state.entries) == ["uh-kept"]
    j.record_intent(request("uh-after"))
    j.close()
    state = Journal(path).load()
    assert list(state.entries) == ["uh-kept", "uh-after"] and not state.torn_tail


def test_a_zero_filled_tail_after_a_crash_is_ignored(path):
    j = Journal(path, clock=Clock()).open()
    j.record_intent(request("uh-kept"))
    j.close()
    with open(path, "ab") as f:
        f.write(b"\x00" * 64)
    assert list(Journal(path).load().entries) == ["uh-kept"]
    with Journal(path, clock=Clock()) as again:
        again.record_intent(request("uh-next"))
    assert list(Journal(path).load().entries) == ["uh-kept", "uh-next"]


def test_an_unreadable_line_that_is_not_the_last_names_the_file_and_line(path):
    with Journal(path, clock=Clock()) as j:
        j.record_intent(request("uh-1"))
        j.record_intent(request("uh-2"))
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"k":"intent", this is not json}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(JournalError, match=rf"{re.escape(str(path))} line 2 is unreadable"):
        Journal(path).load()
    failed = Journal(path)
    with pytest.raises(JournalError, match="line 2"):
        failed.open()
    with open(failed.lock_path, "rb") as lock:  # the failed open released its lock
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_second_hub_on_the_same_journal_is_refused_clearly(journal, path):
    with pytest.raises(JournalError) as err:
        Journal(path).open()
    message = str(err.value)
    assert str(path) in message and "another upbit-hub process" in message
    assert isinstance(err.value, TradingError) and isinstance(err.value, UpbitHubError)
    journal.close()
    Journal(path).open().close()  # free again once the first one closed


def test_a_client_id_is_journaled_only_once(journal):
    journal.record_intent(request("uh-once"))
    with pytest.raises(JournalError, match="already in the order journal"):
        journal.record_intent(request("uh-once"))


def test_writing_to_a_journal_that_is_not_open_says_so(path):
    with pytest.raises(JournalError, match="not open; call open"):
        Journal(path).record_intent(request())
    with pytest.raises(ValueError, match="state must be one of"):
        Journal(path).record_state("uh-1", "filled")


def test_the_kill_switch_is_persisted_until_reset(path):
    clock = Clock()
    with Journal(path, clock=clock) as j:
        j.record_halt("daily_loss_limit_krw reached")
    state = Journal(path).load()
    assert state.halted == "daily_loss_limit_krw reached" and state.halted_at == T0
    with Journal(path, clock=clock) as j:
        assert j.state.halted == "daily_loss_limit_krw reached"
        j.record_reset()
    assert Journal(path).load().halted is None


def test_compaction_keeps_open_orders_recent_final_ones_and_the_halt(path):
    clock = Clock()
    j = Journal(path, clock=clock).open()
    j.record_intent(request("uh-old-done"))
    j.record_state("uh-old-done", "done", uuid="u-old")
    j.record_intent(request("uh-old-open"))
    j.record_state("uh-old-open", "wait", uuid="u-open")
    j.record_intent(request("uh-old-unknown"))
    j.record_state("uh-old-unknown", "unknown", reason="read timeout")
    j.record_halt("operator")
    clock.now = T0 + 86_400 - 100
    j.record_intent(request("uh-recent-cancel"))
    j.record_state("uh-recent-cancel", "cancel", uuid="u-recent")
    clock.now = T0 + 86_400 + 1
    size = path.stat().st_size
    assert j.compact() == 1
    assert path.stat().st_size < size
    state = Journal(path).load()
    assert list(state.entries) == ["uh-old-open", "uh-old-unknown", "uh-recent-cancel"]
    assert state.get("uh-old-open").uuid == "u-open"
    assert state.get("uh-old-unknown").reason == "read timeout"
    assert state.get("uh-recent-cancel").final
    assert state.get("uh-old-open").request == request("uh-old-open")
    assert state.halted == "operator"
    # the journal goes on after compaction, under the same lock
    j.record_state("uh-old-open", "done")
    assert Journal(path).load().get("uh-old-open").state == "done"
    with pytest.raises(JournalError, match="another upbit-hub"):
        Journal(path).open()
    assert not list(path.parent.glob("*.tmp"))
    j.close()


def test_a_hub_killed_right_after_record_intent_leaves_the_intent(path):
    script = textwrap.dedent(f"""
        import sys, time
        from decimal import Decimal
        from upbit_hub.actors.trading.journal import Journal
        from upbit_hub.actors.trading.types import OrderRequest
        j = Journal({str(path)!r}).open()
        j.record_intent(OrderRequest(client_id="uh-killed", component_id="grid",
            market="KRW-BTC", side="bid", ord_type="limit", price=Decimal("103460000"),
            volume=Decimal("0.0005")))
        print("recorded", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "recorded"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
    with Journal(path) as j:  # the dead process's lock is gone with it
        entry = j.state.get("uh-killed")
        assert entry is not None and entry.state is None
        assert entry.request.volume == D("0.0005")
        assert [e.client_id for e in j.state.open_entries()] == ["uh-killed"]


# -- client ids ------------------------------------------------------------------------------------


def test_client_ids_are_short_plain_and_sort_by_time():
    rng = random.Random(5)
    ids = [new_client_id(ms, rng) for ms in (0, 1, 999, 1_773_240_059_095, 36**9 - 1)]
    for cid in ids:
        assert len(cid) <= 36 and re.fullmatch(r"[A-Za-z0-9-]+", cid)
    assert ids == sorted(ids)
    assert [client_id_time_ms(c) for c in ids] == [0, 1, 999, 1_773_240_059_095, 36**9 - 1]
    assert client_id_time_ms("someone-elses-id") is None


def test_client_ids_are_unique_without_any_stored_state_even_in_the_same_millisecond():
    ids = {new_client_id(1_773_240_059_095) for _ in range(10_000)}
    assert len(ids) == 10_000


def test_a_seeded_rng_gives_the_same_ids_every_time():
    first = [new_client_id(1_000 + i, random.Random(42)) for i in range(3)]
    again = [new_client_id(1_000 + i, random.Random(42)) for i in range(3)]
    assert first == again
    assert new_client_id(1_000, random.Random(1)) != new_client_id(1_000, random.Random(2))


def test_a_bad_time_is_refused():
    with pytest.raises(ValueError):
        new_client_id(-1)
    with pytest.raises(ValueError):
        new_client_id(1.5)  # type: ignore[arg-type]
