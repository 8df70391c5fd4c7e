"""``upbit-hub run [--config PATH] [--sim]``: the main job. Runs in: the main thread.

1. Settings: ``--config PATH``, else the file named by ``UPBIT_HUB_CONFIG``, else the packaged
   ``sim.toml`` with ``--sim`` (``default.toml`` without). A settings error prints every
   problem (like ``check-config``) and exits 1.
2. Plugins: the configured ``[[components]]`` are discovered and validated; broken ones
   (import error, bad params, unknown name) are reported and skipped, never fatal.
3. ``--sim`` starts the built-in emulator in this process (``[emulator]`` settings), points
   the hub at it and, when the key variables named in ``[auth]`` are not set, hands the hub
   the emulator's public key pair (never printed).
4. Starts the hub, then the components, then shows the live status view
   (:mod:`upbit_hub.actors.status_view`) until Ctrl-C or SIGTERM.
5. Stops components, hub, emulator in that order inside ``finally``, all within
   ``SHUTDOWN_BUDGET_S`` (4 s) whatever plugins do: a hook that hangs is abandoned. Logs
   ``threads at exit: MainThread`` (any other name listed there is a thread that did not
   stop), then exits 0. A second Ctrl-C/SIGTERM leaves at once with status 130.

Exit status: 0 after a clean stop; 1 on a settings or start-up error, or when every
configured component failed (at start or later), so a supervisor can act; 130 after a second
interrupt.

Log lines go to stderr. On a terminal the status table owns stdout and the console log level
defaults to WARNING (``--log-level INFO`` to see more); otherwise it defaults to INFO and the
status is one log line per ``[status] interval_s``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, TextIO

from upbit_hub.actors.cli_args import log_level, positive_float

__all__ = ["add_arguments", "main", "sim_environ", "wait_for_threads"]

log = logging.getLogger("upbit_hub.run")

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this subcommand's arguments. Runs in: the main thread."""
    parser.add_argument("--config", metavar="PATH", help="settings file (TOML); default: "
                        "$UPBIT_HUB_CONFIG, else the packaged sim.toml/default.toml")
    parser.add_argument("--sim", action="store_true",
                        help="start the built-in emulator and point the hub at it")
    parser.add_argument("--paper", action="store_true",
                        help="paper trading: orders never reach an exchange; the emulator's "
                        "engine fills them against the live order books")
    parser.add_argument("--balances", type=_balances, metavar="CUR=AMOUNT,...",
                        help="the paper account at start (default: [trading] paper_balances)")
    parser.add_argument("--source", metavar="nats://HOST:PORT",
                        help="run the components fed from NATS JetStream (a hub's nats-bridge) "
                        "instead of Upbit; overrides [source] servers")
    parser.add_argument("--status-interval", type=positive_float, metavar="SECONDS",
                        help="override [status] interval_s")
    parser.add_argument("--log-level", type=log_level, metavar="LEVEL",
                        help="console log level (default: INFO, or WARNING on a terminal)")


def _balances(text: str) -> dict[str, Any]:
    from upbit_hub.actors.backtest.cli import parse_balances

    return parse_balances(text)


def sim_environ(auth: Any, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` plus the emulator's default keys under the variable names of ``auth``
    (``[auth] access_key_env`` / ``secret_key_env``) where those are unset or empty.

    Runs in: any thread.
    """
    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

    env = dict(environ)
    if not env.get(auth.access_key_env):
        env[auth.access_key_env] = DEFAULT_ACCESS_KEY
    if not env.get(auth.secret_key_env):
        env[auth.secret_key_env] = DEFAULT_SECRET_KEY
    return env


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run until Ctrl-C/SIGTERM; 0 after a clean stop, 1 on a settings or start-up error.

    Runs in: the main thread.
    """
    out = out or sys.stdout
    tty = _isatty(out)
    undo_logging = _setup_logging(args.log_level or ("WARNING" if tty else "INFO"))
    try:
        return _main(args, out, tty)
    finally:
        undo_logging()


def _main(args: argparse.Namespace, out: TextIO, tty: bool) -> int:
    from upbit_hub.actors.protocol.errors import ConfigError

    try:
        settings = _load(args)
    except ConfigError as exc:
        print(f"{exc.source or 'settings'}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1

    paper, balances = getattr(args, "paper", False), getattr(args, "balances", None)
    if balances is not None and not paper:
        print("upbit-hub run: --balances is the paper account's: use it with --paper",
              file=sys.stderr)
        return 2
    if paper:
        settings = _paper(settings, balances)
    try:
        settings = _source(settings, getattr(args, "source", None))
    except ValueError as exc:
        print(f"upbit-hub run: --source: {exc}", file=sys.stderr)
        return 2
    remote: Any = None
    stop = threading.Event()
    restore = _install_signal_handlers(stop)
    emu: Any = None
    host: Any = None
    metrics: Any = None
    scratch = tempfile.TemporaryDirectory(prefix="upbit-hub-sim-")
    hub_started = False
    try:
        from upbit_hub.plugins.discovery import resolve_components

        resolved = resolve_components(settings)
        environ: Mapping[str, str] | None = None
        if args.sim:
            from upbit_hub.actors.emulator import Emulator

            e = settings.emulator
            emu = Emulator(host=e.host, port=e.port, markets=list(e.markets), rate=e.rate,
                           seed=e.seed).start()  # fmt: skip
            log.info("emulator serving on %s (markets %s)", emu.base_url, ",".join(e.markets))
            settings = settings.with_emulator(emu.base_url)
            environ = sim_environ(settings.auth)
            settings = _sim_journal(settings, scratch)

        from upbit_hub.actors.hub import start_hub
        from upbit_hub.plugins.sdk_host import ComponentHost

        if settings.source.enabled:
            from upbit_hub.actors.broker.source import RemoteHub

            hub = remote = RemoteHub(settings).start()
        else:
            hub = start_hub(settings, environ=environ)
            hub_started = True
        host = ComponentHost(hub, start_timeout_s=settings.hub.component_start_timeout_s,
                             stop_timeout_s=settings.hub.component_stop_timeout_s)
        from upbit_hub.actors.metrics import start_metrics

        metrics = start_metrics(settings.metrics, hub, host.reports)
        if metrics is not None:
            log.info("metrics on %s", metrics.url)
        reports = host.start(resolved, cancel=stop)
        _log_reports(reports)
        if stop.is_set():
            return 0
        if _all_failed(reports):
            log.error("every configured component failed (%d): exiting with status 1 so that "
                      "a supervisor can act", len(reports))  # fmt: skip
            return 1
        if not reports:
            log.warning("no component is configured: the hub runs with nothing to do; add "
                        "[[components]] to the settings")  # fmt: skip
        return _show_status(settings, args, hub, host, out, tty, stop)
    except ConfigError as exc:  # found once running, e.g. the metrics port is taken
        print(f"settings: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.error("upbit-hub run failed: %s: %s", type(exc).__name__, exc, exc_info=True)
        return 1
    finally:
        if metrics is not None:
            metrics.stop()
        _shutdown(host, hub_started, emu, remote)
        restore()
        scratch.cleanup()


def _paper(settings: Any, balances: dict[str, Any] | None) -> Any:
    """``--paper [--balances ...]``: ``[trading] paper = true`` (and its paper account)."""
    import msgspec

    changes: dict[str, Any] = {"paper": True}
    if balances is not None:
        changes["paper_balances"] = {c: str(v) for c, v in balances.items()}
    trading = msgspec.structs.replace(settings.trading, **changes)
    log.info("paper trading: orders are simulated, nothing reaches an exchange")
    return msgspec.structs.replace(settings, trading=trading)


def _sim_journal(settings: Any, scratch: tempfile.TemporaryDirectory[str]) -> Any:
    """With ``--sim`` the account is the emulator's, new each run: unless a journal is
    configured, orders are journaled in a scratch folder removed at exit (a journal kept from
    an earlier emulator would only hold orders no emulator knows)."""
    import msgspec

    if settings.trading.journal_path:
        return settings
    trading = msgspec.structs.replace(
        settings.trading, journal_path=os.path.join(scratch.name, "journal.jsonl"))
    return msgspec.structs.replace(settings, trading=trading)


def _all_failed(reports: list[Any]) -> bool:
    """True when components are configured (not counting disabled ones) and none runs."""
    live = [r for r in reports if r.state != "disabled"]
    return bool(live) and all(r.state == "failed" for r in live)


def _load(args: argparse.Namespace) -> Any:
    from upbit_hub.config.loader import CONFIG_ENV, builtin_settings, load_settings

    if args.config:
        return load_settings(args.config)
    if os.environ.get(CONFIG_ENV):
        return load_settings(None)
    return builtin_settings("sim" if args.sim else "default")


def _show_status(
    settings: Any, args: argparse.Namespace, hub: Any, host: Any, out: TextIO, tty: bool,
    stop: threading.Event,
) -> int:
    """Show the status until ``stop``; 1 if meanwhile every component failed, else 0."""
    from upbit_hub.actors.status_view import StatusSnapshot, StatusView

    failed = _watch_components(host, stop)
    interval = args.status_interval or settings.status.interval_s
    if not settings.status.enabled:
        log.info("running; status view disabled ([status] enabled = false)")
        stop.wait()
        return 1 if failed.is_set() else 0
    started = time.monotonic()

    def snapshot() -> StatusSnapshot:
        return StatusSnapshot(
            at=time.monotonic(), hub=hub.status(), components=host.reports(),
            panels=host.panels(one_line=not tty), started_at=started, interval_s=interval,
        )  # fmt: skip

    view = StatusView(snapshot, out, interval_s=interval, first_after_s=1.0, tty=tty,
                      logger=logging.getLogger("upbit_hub.status"))  # fmt: skip
    view.run(stop)
    return 1 if failed.is_set() else 0


def _watch_components(host: Any, stop: threading.Event, every_s: float = 1.0) -> threading.Event:
    """A daemon thread that sets ``stop`` (and the returned event) once every configured
    component has failed while running, so that the process exits non-zero."""
    failed = threading.Event()

    def watch() -> None:
        while not stop.wait(every_s):
            if _all_failed(host.reports()):
                log.error("every component has failed: stopping with exit status 1")
                failed.set()
                stop.set()
                return

    threading.Thread(target=watch, name="upbit-hub-watch", daemon=True).start()
    return failed


def _log_reports(reports: list[Any]) -> None:
    for r in reports:
        if r.state == "running":
            log.info("component %s (%s): running", r.id, r.plugin)
        elif r.state == "disabled":
            log.info("component %s (%s): disabled", r.id, r.plugin)
        else:
            log.error("component %s (%s): %s: %s", r.id, r.plugin, r.state.upper(), r.error)


#: Ctrl-C or SIGTERM leaves within this long whatever plugins do (issue: within 5 s).
SHUTDOWN_BUDGET_S = 4.0


def _source(settings: Any, url: str | None) -> Any:
    """``--source nats://HOST:PORT``: ``[source] enabled = true`` with that server."""
    if url is None:
        return settings
    import msgspec

    from upbit_hub.config.settings import check_url

    why = check_url(url, ("nats", "tls"))
    if why:
        raise ValueError(f"{url!r} {why}")
    source = msgspec.structs.replace(settings.source, enabled=True, servers=[url])
    return msgspec.structs.replace(settings, source=source)


def _shutdown(host: Any, hub_started: bool, emu: Any, remote: Any = None) -> None:
    """Stop components, hub, emulator (reverse start order) within ``SHUTDOWN_BUDGET_S``;
    each step runs even if the previous one failed, and nothing here raises: an actor that
    does not stop in time is reported and left behind (hub threads are daemons).

    Runs in: the main thread.
    """
    import pykka

    deadline = time.monotonic() + SHUTDOWN_BUDGET_S

    def left(cap: float) -> float:
        return max(0.1, min(cap, deadline - time.monotonic()))

    steps: list[tuple[str, Callable[[], None]]] = []
    if host is not None:
        def stop_components() -> None:
            host.stop_timeout_s = left(host.stop_timeout_s)
            final = host.stop()
            log.info("components stopped: %d, events handled %d, handler errors %d",
                     len(final), sum(r.handled for r in final),
                     sum(r.handler_errors for r in final))  # fmt: skip

        steps.append(("stopping components", stop_components))
    if hub_started:
        def stop_hub() -> None:
            from upbit_hub.actors.hub import stop_hub as stop

            stop(timeout=left(2.0))

        steps.append(("stopping the hub", stop_hub))
    if remote is not None:
        steps.append(("stopping the remote source", lambda: remote.stop(timeout=left(2.0))))
    if emu is not None:
        steps.append(("stopping the emulator", emu.stop))
    for what, step in steps:
        try:
            step()
        except Exception:
            log.exception("%s failed", what)
    try:
        leftovers = pykka.ActorRegistry.get_all()
        for ref in leftovers:
            ref.stop(block=False)
        for ref in leftovers:
            ref.actor_stopped.wait(max(0.0, deadline - time.monotonic()))
        stuck = [str(r) for r in leftovers if r.is_alive()]
        if stuck:
            log.warning("%d actor(s) did not stop in time and are left behind: %s",
                        len(stuck), ", ".join(stuck))  # fmt: skip
    except Exception:
        log.exception("stopping the remaining actors failed")
    left_threads = wait_for_threads(timeout=max(0.0, deadline - time.monotonic()))
    names = ", ".join(["MainThread", *left_threads])
    if left_threads:
        log.warning("threads at exit: %s (%d did not stop)", names, len(left_threads))
    else:
        log.info("threads at exit: %s", names)


def wait_for_threads(timeout: float = 5.0) -> list[str]:
    """Join every thread but the current one within ``timeout`` seconds in total; return
    the names of those still alive. Runs in: the main thread."""
    deadline = time.monotonic() + timeout
    me = threading.current_thread()
    for t in threading.enumerate():
        if t is me:
            continue
        t.join(max(0.0, deadline - time.monotonic()))
    return sorted(t.name for t in threading.enumerate() if t is not me and t.is_alive())


def _install_signal_handlers(stop: threading.Event) -> Any:
    """SIGINT/SIGTERM set ``stop``; a second one while stopping leaves at once with 130.

    Returns a function restoring the previous handlers. Runs in: the main thread.
    """
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            try:
                sys.stderr.write("upbit-hub: second interrupt: leaving now (exit 130)\n")
                sys.stderr.flush()
                sys.stdout.flush()
            finally:
                os._exit(130)
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (tests): Ctrl-C handling is the caller's
            pass

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _setup_logging(level: str) -> Callable[[], None]:
    """Log to stderr at ``level``; returns a function that puts logging back as it was (so an
    in-process caller, such as a test, is not left with a handler on a closed stream)."""
    root = logging.getLogger()
    old_level = root.level
    added: logging.Handler | None = None
    if not any(getattr(h, "_upbit_hub_run", False) for h in root.handlers):
        added = logging.StreamHandler(sys.stderr)
        added.setFormatter(logging.Formatter(_LOG_FORMAT))
        added._upbit_hub_run = True  # type: ignore[attr-defined]
        root.addHandler(added)
    root.setLevel(getattr(logging, level))

    def undo() -> None:
        if added is not None:
            root.removeHandler(added)
        root.setLevel(old_level)

    return undo


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False
