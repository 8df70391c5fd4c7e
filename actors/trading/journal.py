"""The order journal: a write-ahead log of every order intent and its outcome.

Before an order is sent, its full request is appended and made durable
(:meth:`Journal.record_intent` returns only after ``flush`` + ``os.fsync``). After a crash
:meth:`Journal.load` tells which orders may exist on Upbit without the hub knowing their fate
(:meth:`JournalState.open_entries`); the order actor resolves them by ``identifier`` and never
sends a request twice. The kill switch is journaled too, so a halted hub stays halted.

The file holds one JSON object per line (msgspec; amounts as exact decimal strings)::

    {"k":"meta","version":1,"at":1773240000.0}
    {"k":"intent","at":1773240059.1,"request":{"client_id":"uh-0mmm5cic7-3ouclqrvpjkmw",
     "component_id":"grid","market":"KRW-BTC","side":"bid","ord_type":"limit",
     "price":"103460000","volume":"0.0005",...}}
    {"k":"state","at":1773240059.2,"client_id":"uh-0mmm5cic7-3ouclqrvpjkmw","state":"wait",
     "uuid":"82fe9b72-eb0f-462b-8e0e-e74ad844acea","reason":null}
    {"k":"halt","at":1773240100.0,"reason":"operator: maintenance"}
    {"k":"reset","at":1773240200.0}

Only one hub may use a journal: :meth:`Journal.open` takes an exclusive ``fcntl.flock`` on
``<path>.lock`` (a side file, so that :meth:`Journal.compact` can replace the journal itself).
A torn last line (the process died mid-write) is skipped with a warning, and cut off when the
journal is opened for writing; any other unreadable line is a :class:`JournalError`.

Use, in the order actor::

    journal = Journal(state_dir / "orders.jsonl").open()   # JournalError if another hub has it
    journal.record_intent(request)          # durable when it returns: now send the order
    journal.record_state(request.client_id, "wait", uuid="82fe9b72-...")
    ...
    Journal(path).load().open_entries()     # after a restart: the orders to look up

Runs in: the order actor's thread (one writer; no locks inside). File I/O only.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Final

import msgspec

from upbit_hub.actors.protocol.errors import JournalError
from upbit_hub.actors.trading.types import FINAL_STATES, STATES, OrderRequest, OrderState

__all__ = ["JOURNAL_VERSION", "Journal", "JournalEntry", "JournalState"]

log = logging.getLogger(__name__)

JOURNAL_VERSION: Final = 1
#: States after which the record is fsynced too (the intent always is).
_DURABLE_STATES: Final = FINAL_STATES | {"unknown"}
_DAY_S: Final = 86_400.0
_BLANK: Final = b" \t\r\x00"


class _Meta(msgspec.Struct, tag="meta", tag_field="k", kw_only=True):
    version: int
    at: float


class _Intent(msgspec.Struct, tag="intent", tag_field="k", kw_only=True):
    at: float
    request: OrderRequest


class _State(msgspec.Struct, tag="state", tag_field="k", kw_only=True):
    at: float
    client_id: str
    state: OrderState
    uuid: str | None = None
    reason: str | None = None


class _Halt(msgspec.Struct, tag="halt", tag_field="k", kw_only=True):
    at: float
    reason: str


class _Reset(msgspec.Struct, tag="reset", tag_field="k", kw_only=True):
    at: float


_Record = _Meta | _Intent | _State | _Halt | _Reset
_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(_Record)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One order as the journal knows it.

    ``state`` is None while only the intent is journaled (the request may or may not have
    left). ``uuid`` is the last uuid any state record named; ``reason`` that of the last state
    record. ``request`` is None for a state recorded without an intent (should not happen).
    """

    client_id: str
    request: OrderRequest | None
    state: OrderState | None = None
    uuid: str | None = None
    reason: str | None = None
    intent_at: float | None = None
    updated_at: float = 0.0

    @property
    def final(self) -> bool:
        """True once the order is ``denied``, ``done``, ``cancel`` or ``rejected``."""
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class JournalState:
    """What a journal holds: every order (in journal order) and the kill switch.

    ``halted`` is the reason of the last halt not followed by a reset; ``torn_tail`` says the
    last line was torn and skipped. Runs in: any thread (treat as read-only).
    """

    entries: dict[str, JournalEntry] = field(default_factory=dict)
    halted: str | None = None
    halted_at: float | None = None
    torn_tail: bool = False

    def open_entries(self) -> list[JournalEntry]:
        """Entries not in a final state: the orders to resolve with Upbit after a restart.
        Only entries with their request (a state journaled without an intent cannot be
        resolved; :meth:`Journal.record_state` warns when that happens)."""
        return [e for e in self.entries.values() if not e.final and e.request is not None]

    def get(self, client_id: str) -> JournalEntry | None:
        """The entry of ``client_id``, None if never journaled."""
        return self.entries.get(client_id)


def _apply(state: JournalState, rec: _Record) -> JournalState:
    """``state`` after one record (entries are updated in place; the rest replaced)."""
    if isinstance(rec, _Intent):
        cid = rec.request.client_id
        state.entries[cid] = JournalEntry(cid, rec.request, intent_at=rec.at, updated_at=rec.at)
    elif isinstance(rec, _State):
        old = state.entries.get(rec.client_id) or JournalEntry(rec.client_id, None)
        state.entries[rec.client_id] = replace(
            old, state=rec.state, uuid=rec.uuid or old.uuid, reason=rec.reason, updated_at=rec.at
        )
    elif isinstance(rec, _Halt):
        return replace(state, halted=rec.reason, halted_at=rec.at)
    elif isinstance(rec, _Reset):
        return replace(state, halted=None, halted_at=None)
    return state


def _read(path: Path) -> tuple[JournalState, int]:
    """Parse the journal; returns the state and the byte length of its good part."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return JournalState(), 0
    except OSError as exc:
        raise JournalError(f"cannot read the order journal {path}: {exc}") from exc
    lines = data.split(b"\n")
    # Only the last line holding anything may be torn; a line without its newline always is
    # (a record counts once its newline is written).
    last = max((i for i, raw in enumerate(lines) if raw.strip(_BLANK)), default=-1)
    state, offset, good_end = JournalState(), 0, 0
    for index, raw in enumerate(lines):
        end = offset + len(raw) + 1
        offset = end
        if not raw.strip(_BLANK):
            continue
        try:
            if index == len(lines) - 1:
                raise msgspec.DecodeError("no newline at the end")
            rec = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            if index == last:
                log.warning("order journal %s: skipping torn last line %d (%d bytes): %s",
                            path, index + 1, len(raw), exc)  # fmt: skip
                return replace(state, torn_tail=True), good_end
            raise JournalError(
                f"order journal {path} line {index + 1} is unreadable ({exc}); it is not the "
                "last line, so it is not a torn write: move the file aside, or repair that "
                "line, then start again"
            ) from exc
        state = _apply(state, rec)
        good_end = end
    return state, good_end


_NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC


def _open_append(path: Path) -> IO[bytes]:
    """``path`` opened for appending, created readable by its owner only."""
    return os.fdopen(os.open(path, _NEW_FILE | os.O_APPEND, 0o600), "ab")


class Journal:
    """The append-only order journal at ``path`` (parent folders are created).

    ``fsync``: make intents, final states, ``unknown`` and kill-switch changes durable with
    ``os.fsync`` (turn off only for tests and backtests). ``clock``: Unix seconds for the
    records' ``at`` (the hub clock). Use :meth:`open` (or ``with Journal(p) as j:``) first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._clock = clock
        self._file: IO[bytes] | None = None
        self._lock_fd: int | None = None
        self._state = JournalState()

    # -- opening and closing -------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        """``<path>.lock``: the file whose ``flock`` marks the journal as in use."""
        return self.path.with_name(self.path.name + ".lock")

    def open(self) -> Journal:
        """Lock the journal, read it, cut off a torn last line and open it for appending.

        Raises :class:`JournalError` when another process (another upbit-hub) holds it, or
        when it cannot be created or read. Returns self. Runs in: the order actor's thread.
        """
        if self._file is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot create the order journal {self.path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise JournalError(
                f"the order journal {self.path} is in use by another upbit-hub process (its "
                f"lock {self.lock_path.name} is held); stop that hub, or give this one its own "
                "[trading] journal_path"
            ) from exc
        self._lock_fd = fd
        try:
            state, good_end = _read(self.path)
            self._file = _open_append(self.path)
            if self._file.tell() > good_end:
                self._file.truncate(good_end)
                self._sync()
            if good_end == 0:
                self._write(_Meta(version=JOURNAL_VERSION, at=self._clock()), durable=True)
        except BaseException:
            self.close()
            raise
        self._state = state
        return self

    def close(self) -> None:
        """Close the file and release the lock (idempotent). Runs in: the order actor's thread."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> Journal:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def _sync(self) -> None:
        if self._file is not None and self.fsync:
            os.fsync(self._file.fileno())

    def _write(self, rec: _Record, *, durable: bool) -> None:
        if self._file is None:
            raise JournalError(f"the order journal {self.path} is not open; call open() first")
        line = _encoder.encode(rec) + b"\n"
        try:
            self._file.write(line)
            self._file.flush()
            if durable:
                self._sync()
        except OSError as exc:
            raise JournalError(f"cannot write the order journal {self.path}: {exc}") from exc
        self._state = _apply(self._state, rec)

    def record_intent(self, request: OrderRequest, *, at: float | None = None) -> None:
        """Journal ``request`` before it is sent; returns once it is durable.

        Raises :class:`JournalError` if it cannot be written or if its ``client_id`` was
        journaled before (sending it would reuse an Upbit identifier): do not send then.
        Runs in: the order actor's thread.
        """
        if request.client_id in self._state.entries:
            raise JournalError(
                f"client_id {request.client_id!r} is already in the order journal {self.path}; "
                "every order needs a new client_id (new_client_id())"
            )
        self._write(_Intent(at=self._now(at), request=request), durable=True)

    def record_state(
        self,
        client_id: str,
        state: OrderState,
        *,
        uuid: str | None = None,
        reason: str | None = None,
        at: float | None = None,
    ) -> None:
        """Journal an outcome of ``client_id``: flushed; fsynced for final states and
        ``unknown``. Raises ValueError for a state not in :data:`STATES`, JournalError when
        it cannot be written. Runs in: the order actor's thread.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        if client_id not in self._state.entries:
            log.warning("order journal %s: state %s for client_id %s without an intent",
                        self.path, state, client_id)  # fmt: skip
        rec = _State(at=self._now(at), client_id=client_id, state=state, uuid=uuid, reason=reason)
        self._write(rec, durable=state in _DURABLE_STATES)

    def record_halt(self, reason: str, *, at: float | None = None) -> None:
        """Journal that the kill switch is on (durable). Runs in: the order actor's thread."""
        self._write(_Halt(at=self._now(at), reason=reason), durable=True)

    def record_reset(self, *, at: float | None = None) -> None:
        """Journal that the kill switch is off (durable). Runs in: the order actor's thread."""
        self._write(_Reset(at=self._now(at)), durable=True)

    def _now(self, at: float | None) -> float:
        return self._clock() if at is None else at

    # -- reading and compacting ----------------------------------------------------------------

    def load(self) -> JournalState:
        """Read the journal file from disk (open or not) and return what it holds.

        Raises :class:`JournalError` naming the file and line for an unreadable line other
        than the last. Runs in: any thread (reads only).
        """
        return _read(self.path)[0]

    @property
    def state(self) -> JournalState:
        """What this open journal holds, kept up to date by every record (no disk read)."""
        return self._state

    def compact(self, *, keep_final_s: float = _DAY_S, now: float | None = None) -> int:
        """Rewrite the journal atomically with only what still matters: entries not final,
        final entries updated within ``keep_final_s`` (a day) and the kill switch.

        Temp file + fsync + ``os.replace`` + fsync of the folder: a crash at any point
        leaves either the old or the new journal. Returns how many entries were dropped.
        Runs in: the order actor's thread.
        """
        if self._file is None:
            raise JournalError(f"the order journal {self.path} is not open; call open() first")
        cutoff = self._now(now) - keep_final_s
        kept = {cid: e for cid, e in self._state.entries.items()
                if not e.final or e.updated_at >= cutoff}  # fmt: skip
        recs: list[_Record] = [_Meta(version=JOURNAL_VERSION, at=self._now(now))]
        for e in kept.values():
            if e.request is not None:
                at = e.updated_at if e.intent_at is None else e.intent_at
                recs.append(_Intent(at=at, request=e.request))
            if e.state is not None:
                recs.append(_State(at=e.updated_at, client_id=e.client_id, state=e.state,
                                   uuid=e.uuid, reason=e.reason))  # fmt: skip
        if self._state.halted is not None:
            halted_at = self._state.halted_at
            recs.append(_Halt(at=0.0 if halted_at is None else halted_at,
                              reason=self._state.halted))  # fmt: skip
        tmp = self.path.with_name(f"{self.path.name}.compact-{os.getpid()}.tmp")
        try:
            with os.fdopen(os.open(tmp, _NEW_FILE | os.O_TRUNC, 0o600), "wb") as out:
                out.write(b"".join(_encoder.encode(r) + b"\n" for r in recs))
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            self._file.close()
            self._file = None
            os.replace(tmp, self.path)
            if self.fsync:
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            self._file = _open_append(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if self._file is None:
                with contextlib.suppress(OSError):
                    self._file = _open_append(self.path)
            raise JournalError(f"cannot compact the order journal {self.path}: {exc}") from exc
        dropped = len(self._state.entries) - len(kept)
        self._state = replace(self._state, entries=kept)
        return dropped
