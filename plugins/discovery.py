"""Plugin discovery: entry points in group ``upbit_hub.plugins`` -> status records.

A plugin is a class registered by any installed distribution, e.g. in its ``pyproject.toml``::

    [project.entry-points."upbit_hub.plugins"]
    ticker-logger = "my_pkg.plugins:TickerLogger"

Every discovered entry point gets a :class:`PluginStatus`; loading one never raises, so a
broken plugin (ImportError, any Exception, even ``SystemExit`` at import) is reported as
``load_error`` and never stops the others. :func:`resolve_components` matches the configured
``[[components]]`` against the plugins and validates each one's params against the plugin's
``Config`` Struct. No pykka, no network. Runs in: the caller's thread.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

import msgspec

from upbit_hub.config.loader import validate_component_params
from upbit_hub.config.settings import ComponentSettings, Settings

__all__ = [
    "GROUP",
    "PluginState",
    "PluginStatus",
    "ResolvedComponent",
    "discover_plugins",
    "resolve_components",
    "resolve_entries",
]

logger = logging.getLogger(__name__)

GROUP = "upbit_hub.plugins"
PluginState = Literal["loaded", "disabled", "load_error", "config_error", "not_found"]
_MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """What became of one plugin. ``error`` is one line, None when all is well."""

    name: str
    dist: str  # "distribution-name 1.2.3", "" when the entry point names no distribution
    value: str  # "module:attr"
    state: PluginState
    error: str | None = None
    plugin: type | None = None

    @property
    def config_type(self) -> type | None:
        """The plugin's ``Config`` Struct, or None (no Config, or not loaded). Runs in: any."""
        return getattr(self.plugin, "Config", None) if self.plugin is not None else None


@dataclass(frozen=True, slots=True)
class ResolvedComponent:
    """One ``[[components]]`` entry matched to its plugin, with its validated Config.

    ``status.state`` is ``loaded`` only when the component can be started: ``disabled``,
    ``not_found``, ``load_error`` or ``config_error`` otherwise, ``problems`` saying why (each
    naming the key, e.g. ``components[0].params.symbols``).
    """

    component: ComponentSettings
    index: int
    status: PluginStatus
    config: Any | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the hub should start this component. Runs in: any thread."""
        return self.status.state == "loaded" and not self.problems


def discover_plugins(names: Iterable[str] | None = None) -> dict[str, PluginStatus]:
    """Load the plugins of group ``upbit_hub.plugins`` and report each one's status.

    ``names`` limits loading to those entry-point names; a name with no entry point gets a
    ``not_found`` record. Never raises because of a plugin. Runs in: the caller's thread.
    """
    found = _entry_points()
    wanted = list(dict.fromkeys(names)) if names is not None else list(found)
    result: dict[str, PluginStatus] = {}
    for name in wanted:
        ep = found.get(name)
        result[name] = _load(ep) if ep is not None else _not_found(name, found)
    return result


def resolve_components(
    settings: Settings, plugins: dict[str, PluginStatus] | None = None
) -> list[ResolvedComponent]:
    """Match ``settings.components`` to plugins and validate their params.

    Disabled entries are not loaded (state ``disabled``). ``plugins`` may pass the result of
    :func:`discover_plugins` to avoid loading twice. Runs in: the caller's thread.
    """
    return resolve_entries(settings.components, plugins)


def resolve_entries(
    comps: Sequence[ComponentSettings], plugins: dict[str, PluginStatus] | None = None
) -> list[ResolvedComponent]:
    """:func:`resolve_components` for a bare list of entries (key paths use list positions).

    Runs in: the caller's thread.
    """
    if plugins is None:
        eps = _entry_points()
        enabled = {c.plugin for c in comps if c.enabled}
        plugins = discover_plugins(enabled)
        for c in comps:  # describe plugins of disabled entries without importing them
            if c.plugin not in plugins:
                ep = eps.get(c.plugin)
                plugins[c.plugin] = (
                    _status(ep, "disabled") if ep is not None else _not_found(c.plugin, eps)
                )
    out: list[ResolvedComponent] = []
    for i, comp in enumerate(comps):
        key = f"components[{i}]"
        status = plugins.get(comp.plugin) or _not_found(comp.plugin, _entry_points())
        if not comp.enabled:
            out.append(ResolvedComponent(comp, i, replace(status, state="disabled", error=None)))
            continue
        if status.state != "loaded":
            problem = f"{key}.plugin: plugin {comp.plugin!r} {status.state}: {status.error}"
            out.append(ResolvedComponent(comp, i, status, None, (problem,)))
            continue
        config, problems = validate_component_params(
            status.config_type, comp.params, f"{key}.params"
        )
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            bad = replace(status, state="config_error", error=_one_line(problems[0]) + more)
            out.append(ResolvedComponent(comp, i, bad, None, tuple(problems)))
        else:
            out.append(ResolvedComponent(comp, i, status, config))
    return out


# -- helpers -------------------------------------------------------------------------------


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            logger.warning(
                "plugin name %r is registered twice (%s and %s); using the first",
                ep.name, _dist(found[ep.name]), _dist(ep),
            )  # fmt: skip
            continue
        found[ep.name] = ep
    return found


def _load(ep: EntryPoint) -> PluginStatus:
    try:
        obj = ep.load()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # ImportError, anything, even SystemExit at import time
        logger.warning("plugin %r (%s) failed to load: %s", ep.name, ep.value, _describe(exc))
        return _status(ep, "load_error", f"import failed: {_describe(exc)}")
    why = _not_a_plugin(obj)
    if why:
        logger.warning("plugin %r (%s) is not usable: %s", ep.name, ep.value, why)
        return _status(ep, "load_error", why)
    return _status(ep, "loaded", plugin=obj)


def _not_a_plugin(obj: object) -> str | None:
    """Why ``obj`` is not a plugin class, or None. Duck-typed so it works without the SDK."""
    if not isinstance(obj, type):
        return f"not a class: entry point gives {type(obj).__name__} {_short(repr(obj))}"
    base = _sdk_component()
    is_component = base is not None and issubclass(obj, base)
    if not (is_component or callable(getattr(obj, "on_start", None))):
        return f"class {obj.__name__} has no on_start() and does not subclass Component"
    cfg = getattr(obj, "Config", None)
    if cfg is not None and not (isinstance(cfg, type) and issubclass(cfg, msgspec.Struct)):
        return f"{obj.__name__}.Config must be a msgspec.Struct subclass or None"
    return None


def _sdk_component() -> type | None:
    try:
        sdk = importlib.import_module("upbit_hub.plugins.sdk")
    except Exception:  # the SDK not written yet, or broken: fall back to duck typing
        return None
    base = getattr(sdk, "Component", None)
    return base if isinstance(base, type) else None


def _status(
    ep: EntryPoint, state: PluginState, error: str | None = None, plugin: type | None = None
) -> PluginStatus:
    return PluginStatus(ep.name, _dist(ep), ep.value, state, error, plugin)


def _not_found(name: str, found: dict[str, EntryPoint]) -> PluginStatus:
    near = difflib.get_close_matches(name, list(found), n=1)
    hint = f" — did you mean {near[0]!r}?" if near else ""
    known = ", ".join(sorted(found)) or "none installed"
    msg = f"no plugin named {name!r} in entry-point group {GROUP}{hint} (available: {known})"
    return PluginStatus(name, "", "", "not_found", _one_line(msg))


def _dist(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return ""
    try:
        return f"{dist.name} {dist.version}"
    except Exception:  # broken metadata must not stop discovery
        return "?"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return _one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return _short(first, _MAX_ERROR)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
