"""Load settings from TOML, collecting EVERY problem at once. Pure: file reads only, no pykka.

msgspec stops at the first error, so the loader first walks the parsed TOML against the
Struct fields itself (unknown keys with "did you mean", missing required keys, per-field type
and constraint checks via ``msgspec.convert`` on each value, cross-field rules), and builds the
Structs only when nothing is wrong. Every problem names its full key path::

    >>> load_settings("bad.toml")
    ConfigError: invalid settings in bad.toml:
      - unknown key 'upbit.fromat' — did you mean 'format'?
      - unknown key 'hub.ping_intervl_s' — did you mean 'ping_interval_s'?
      - components[1].plugin: missing required key

Runs in: the caller's thread (the CLI's main thread, or whoever starts the hub).
"""

from __future__ import annotations

import difflib
import enum
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from importlib import resources
from types import SimpleNamespace
from typing import Any, Literal

import msgspec

from upbit_hub.actors.protocol.errors import ConfigError
from upbit_hub.config.settings import Settings

__all__ = [
    "CONFIG_ENV",
    "ENV_OVERRIDES",
    "builtin_settings",
    "load_settings",
    "parse_settings",
    "settings_from_mapping",
    "validate_component_params",
    "validate_struct",
]

CONFIG_ENV = "UPBIT_HUB_CONFIG"
# environment variable -> (section, key); applied after the file, before validation
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "UPBIT_HUB_REST_URL": ("upbit", "rest_url"),
    "UPBIT_HUB_WEBSOCKET_URL": ("upbit", "websocket_url"),
    "UPBIT_HUB_PRIVATE_WEBSOCKET_URL": ("upbit", "private_websocket_url"),
}

_MISSING: Any = object()
_AT = re.compile(r" - at `\$(?P<sub>[^`]*)`$")
_TOML_POS = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def load_settings(
    source: str | os.PathLike[str] | Settings | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Return validated :class:`Settings` from ``source``.

    - ``None``: the file named by ``$UPBIT_HUB_CONFIG`` if set, else the built-in
      ``default.toml``;
    - a path: that TOML file;
    - a :class:`Settings`: returned as is (no environment overrides: the caller built it).

    ``UPBIT_HUB_REST_URL``, ``UPBIT_HUB_WEBSOCKET_URL`` and ``UPBIT_HUB_PRIVATE_WEBSOCKET_URL``
    override the file's URLs. Raises :class:`ConfigError` listing every problem.
    Runs in: the caller's thread.
    """
    if isinstance(source, Settings):
        return source
    if source is None:
        named = environ.get(CONFIG_ENV, "")
        if not named:
            return builtin_settings("default", environ=environ)
        path, label = named, f"{named} (from {CONFIG_ENV})"
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        label = path
    else:
        raise TypeError(f"settings source must be a path, Settings or None, not {source!r}")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError([f"cannot read settings file: {reason}"], label) from None
    return parse_settings(raw, label, environ=environ)


def builtin_settings(
    name: Literal["default", "sim"] = "default", *, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Load a TOML file shipped in the package (``default.toml`` or ``sim.toml``).

    Runs in: the caller's thread.
    """
    raw = resources.files("upbit_hub.config").joinpath(f"{name}.toml").read_bytes()
    return parse_settings(raw, f"<built-in {name}.toml>", environ=environ)


def parse_settings(
    text: str | bytes, source: str = "<string>", *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Parse TOML ``text`` into :class:`Settings`; ``environ`` (if given) applies overrides.

    Raises :class:`ConfigError` (syntax errors give line and column). Runs in: caller's thread.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError([f"not UTF-8 text (byte {exc.start})"], source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_problem(exc)], source) from None
    return settings_from_mapping(data, source, environ=environ)


def settings_from_mapping(
    data: Mapping[str, Any], source: str = "", *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed mapping (TOML-shaped) into :class:`Settings`.

    Runs in: the caller's thread.
    """
    data = dict(data)
    overridden: dict[str, str] = {}
    for var, (section, key) in ENV_OVERRIDES.items():
        value = (environ or {}).get(var, "")
        if not value:
            continue
        table = data.get(section, {})
        if not isinstance(table, Mapping):
            continue  # reported as "expected a table" below
        data[section] = {**table, key: value}
        overridden[f"{section}.{key}"] = var
    settings, problems = validate_struct(Settings, data)
    if problems:
        raise ConfigError([_note_env(p, overridden) for p in problems], source)
    return settings


def validate_component_params(
    plugin_config_type: type | None, params: Mapping[str, Any], key_path: str
) -> tuple[Any | None, list[str]]:
    """Validate a component's ``params`` against its plugin's ``Config`` Struct.

    Returns ``(config instance or None, problems)``; problems name keys under ``key_path``
    (e.g. ``components[0].params``) with the same "did you mean" hints as the settings. A
    plugin without a Config (``None``) accepts only empty params. Runs in: caller's thread.
    """
    if plugin_config_type is None:
        if params:
            keys = ", ".join(f"'{k}'" for k in params)
            return None, [f"{key_path}: this plugin declares no Config and takes no params; "
                          f"remove {keys}"]  # fmt: skip
        return None, []
    value, problems = validate_struct(plugin_config_type, params, key_path)
    return (None if problems else value), problems


def validate_struct(cls: type, data: Any, key_path: str = "") -> tuple[Any | None, list[str]]:
    """Walk ``data`` against msgspec Struct ``cls``; return ``(instance or None, problems)``.

    Unlike ``msgspec.convert`` this does not stop at the first problem. Runs in: any thread.
    """
    if not _is_struct(cls):
        return _convert(cls, data, key_path)
    value, problems = _walk_struct(cls, data, key_path)
    return (None if problems or value is _MISSING else value), problems


# -- the walker ---------------------------------------------------------------------------


def _walk_struct(cls: type, data: Any, path: str) -> tuple[Any, list[str]]:
    value, _, problems = _walk_struct_partial(cls, data, path)
    return value, problems


def _walk_struct_partial(cls: type, data: Any, path: str) -> tuple[Any, dict[str, Any], list[str]]:
    """(instance or _MISSING, the field values that passed, problems)."""
    if not isinstance(data, Mapping):
        where = path or "settings"
        return _MISSING, {}, [f"{where}: expected a table, got {_kind(data)}"]
    fields = msgspec.structs.fields(cls)
    by_key = {f.encode_name: f for f in fields}
    problems = [_unknown_key(cls, path, k, list(by_key)) for k in data if k not in by_key]
    values: dict[str, Any] = {}
    for f in fields:
        sub = _join(path, f.encode_name)
        if f.encode_name not in data:
            if f.required:
                problems.append(f"{sub}: missing required key")
            else:
                values[f.name] = (
                    f.default if f.default is not msgspec.NODEFAULT else f.default_factory()
                )
            continue
        value, found = _walk_value(f.type, data[f.encode_name], sub)
        problems.extend(found)
        if value is not _MISSING:
            values[f.name] = value
    cross = getattr(cls, "cross_field_problems", None)
    if callable(cross):
        problems.extend(f"{_join(path, name)}: {msg}" for name, msg in cross(values))
    if problems:
        return _MISSING, values, problems
    try:
        return cls(**values), values, []
    except (TypeError, ValueError) as exc:  # a plugin Config's own __post_init__ said no
        return _MISSING, values, [f"{path or cls.__name__}: {exc}"]


def _walk_value(tp: Any, value: Any, path: str) -> tuple[Any, list[str]]:
    base = _unannotated(tp)
    if _is_struct(base):
        return _walk_struct(base, value, path)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin is list and base is tp and args and _is_struct(args[0]):
        if not isinstance(value, list):
            name = path.rsplit(".", 1)[-1]
            return _MISSING, [f"{path}: expected an array of tables ([[{name}]]), "
                              f"got {_kind(value)}"]  # fmt: skip
        items: list[Any] = []
        problems: list[str] = []
        for i, item in enumerate(value):
            got, partial, found = _walk_struct_partial(args[0], item, f"{path}[{i}]")
            # a failed item still offers its good fields to cross checks (duplicate ids)
            items.append(SimpleNamespace(**partial) if got is _MISSING else got)
            problems.extend(found)
        return items, problems
    choices = _choices(base)
    if choices is not None:
        return _walk_choice(tp, choices, value, path)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if value is not None and len(arms) == 1:  # `X | None`: TOML has no null, so it is X
            return _walk_value(arms[0], value, path)
        return _convert(tp, value, path)
    # collections: walk every item first, so each bad one is named (with its allowed values);
    # then convert the whole for the collection's own constraints (min_length, ...)
    if _is_sequence(origin, args) and isinstance(value, list):
        problems = [p for i, item in enumerate(value)
                    for p in _walk_value(args[0], item, f"{path}[{i}]")[1]]  # fmt: skip
        if problems:
            return _MISSING, problems
    elif origin is dict and len(args) == 2 and isinstance(value, Mapping):
        problems = [p for key, item in value.items()
                    for p in _walk_value(args[1], item, _join(path, key))[1]]  # fmt: skip
        if problems:
            return _MISSING, problems
    return _convert(tp, value, path)


def _choices(tp: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal`` or an ``Enum`` (by value), else None."""
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tuple(m.value for m in tp)
    return None


def _walk_choice(tp: Any, choices: tuple[Any, ...], value: Any, path: str) -> tuple[Any, list[str]]:
    """Accept one of ``choices`` or say which ones there are (and the likely intended one)."""
    if any(value == c and type(value) is type(c) for c in choices):
        base = _unannotated(tp)
        return (value, []) if typing.get_origin(base) is Literal else _convert(tp, value, path)
    shown = ", ".join(repr(c) for c in choices)
    hint = ""
    if isinstance(value, str):
        texts = [c for c in choices if isinstance(c, str)]
        near = [c for c in texts if c.lower() == value.lower()]
        near = near or difflib.get_close_matches(value, texts, n=1)
        hint = f" — did you mean {near[0]!r}?" if near else ""
    return _MISSING, [f"{path}: must be one of {shown}, got {_show(value)}{hint}"]


def _is_sequence(origin: Any, args: tuple[Any, ...]) -> bool:
    if origin in (list, set, frozenset):
        return len(args) == 1
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis


def _convert(tp: Any, value: Any, path: str) -> tuple[Any, list[str]]:
    try:
        return msgspec.convert(value, tp), []
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = _AT.search(msg)
        if m:
            msg = msg[: m.start()]
            value = _lookup(value, m.group("sub"))
            path = path + m.group("sub")  # "$[2]" -> "[2]", "$.x" -> ".x"
        if "got" not in msg and value is not _MISSING:
            msg = f"{msg}, got {_show(value)}"
        msg = msg.replace("got `object`", "got a table").replace("got `array`", "got an array")
        return _MISSING, [f"{path or 'value'}: {msg[:1].lower()}{msg[1:]}"]


def _unknown_key(cls: type, path: str, key: str, valid: list[str]) -> str:
    full = _join(path, key)
    near = [v for v in valid if v.lower() == str(key).lower()]
    near = near or difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
    if near:
        return f"unknown key '{full}' — did you mean '{near[0]}'?"
    if cls is Settings:  # a section key at the top: `format = ...` without [upbit]
        for f in msgspec.structs.fields(Settings):
            stype = _unannotated(f.type)
            if _is_struct(stype) and key in {g.encode_name for g in msgspec.structs.fields(stype)}:
                section = f.encode_name
                return f"unknown key '{full}' — did you mean '{section}.{key}' (under [{section}])?"
    shown = ", ".join(valid) if valid else "none"
    return f"unknown key '{full}' (valid keys here: {shown})"


def _lookup(value: Any, sub: str) -> Any:
    """Follow a msgspec error path such as ``[2].x`` into ``value``; _MISSING if lost."""
    for index, key in re.findall(r"\[(\d+)\]|\.([^.\[]+)", sub):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return value


def _toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    msg = str(exc)
    m = _TOML_POS.search(msg)
    if m:
        return f"TOML syntax error at line {m['line']}, column {m['col']}: {msg[: m.start()]}"
    return f"TOML syntax error: {msg}"


def _note_env(problem: str, overridden: Mapping[str, str]) -> str:
    for key, var in overridden.items():
        if problem.startswith(key + ":"):
            return f"{problem} (set by environment variable {var})"
    return problem


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _unannotated(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {_show(value)}"


def _show(value: Any) -> str:
    text = repr(value)
    if isinstance(value, Mapping) or len(text) > 60:
        return f"a {type(value).__name__}"
    return text
