"""Create the bridge's JetStream stream, or check that the existing one fits.

The stream holds ``upbit.>`` with a file store, ``max_age``/``max_bytes`` retention and a
de-duplication window (the ``Nats-Msg-Id`` window that makes republishing safe). An existing
stream with other subjects, a memory store or a retention policy other than ``limits`` is
an incompatible one: :class:`BrokerConfigError` says what differs (the bridge never deletes
or rewrites someone's stream). Different limits (``max_age``, ``max_bytes``) are updated.

Runs in: the loop thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from upbit_hub.actors.protocol.errors import BrokerConfigError

from .codec import PREFIX

log = logging.getLogger(__name__)

SUBJECTS = (f"{PREFIX}.>",)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What the bridge needs of its stream. ``max_age_s`` 0 and ``max_bytes`` -1 = unlimited."""

    name: str = "UPBIT"
    max_age_s: float = 86_400.0
    max_bytes: int = 1 << 30
    duplicate_window_s: float = 120.0

    def config(self) -> Any:
        """The nats-py ``StreamConfig``."""
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        return StreamConfig(
            name=self.name,
            subjects=list(SUBJECTS),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=self.max_age_s or None,
            max_bytes=self.max_bytes,
            duplicate_window=self.duplicate_window_s,
        )


async def ensure_stream(js: Any, spec: StreamSpec) -> Any:
    """Create ``spec.name`` or check/update it; returns its ``StreamInfo``.

    Raises :class:`BrokerConfigError` when the existing stream is incompatible.
    """
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        info = await js.add_stream(spec.config())
        log.info("created JetStream stream %s (subjects %s, max_age %gs, max_bytes %d)",
                 spec.name, ",".join(SUBJECTS), spec.max_age_s, spec.max_bytes)  # fmt: skip
        return info
    problems = incompatibilities(info.config, spec)
    if problems:
        raise BrokerConfigError(
            f"JetStream stream {spec.name!r} exists with an incompatible configuration: "
            + "; ".join(problems)
            + f" (delete it with `nats stream rm {spec.name}`, or name another stream)"
        )
    want_age = spec.max_age_s or 0.0
    have_age = float(info.config.max_age or 0.0)
    if abs(have_age - want_age) > 0.5 or (info.config.max_bytes or -1) != spec.max_bytes:
        cfg = info.config
        cfg.max_age = spec.max_age_s or None
        cfg.max_bytes = spec.max_bytes
        info = await js.update_stream(cfg)
        log.info("stream %s: limits updated (max_age %gs, max_bytes %d)",
                 spec.name, spec.max_age_s, spec.max_bytes)  # fmt: skip
    return info


def incompatibilities(cfg: Any, spec: StreamSpec) -> list[str]:
    """What makes an existing stream config unusable for the bridge (empty: fine)."""
    from nats.js.api import RetentionPolicy, StorageType

    out: list[str] = []
    subjects = list(cfg.subjects or ())
    if subjects != list(SUBJECTS):
        out.append(f"subjects are {subjects}, the bridge needs {list(SUBJECTS)}")
    if cfg.retention not in (None, RetentionPolicy.LIMITS):
        out.append(f"retention is {_name(cfg.retention)}, the bridge needs limits")
    if cfg.storage not in (None, StorageType.FILE):
        out.append(f"storage is {_name(cfg.storage)}, the bridge needs file (restarts keep data)")
    dup = float(cfg.duplicate_window or 0.0)
    if dup and dup < 10.0:
        out.append(f"duplicate_window is {dup:g}s, the bridge needs at least 10s to "
                   "de-duplicate republished events")  # fmt: skip
    if getattr(cfg, "max_msgs_per_subject", -1) not in (None, -1):
        out.append("max_msgs_per_subject is set: trades would be discarded")
    return out


def _name(v: Any) -> str:
    return str(getattr(v, "value", v))
