"""Settings schema: defaults, every constraint, cross-field rules, helpers."""

from __future__ import annotations

import msgspec
import pytest

from upbit_hub.actors.protocol.errors import ConfigError, CredentialsError
from upbit_hub.config.loader import builtin_settings, parse_settings, settings_from_mapping
from upbit_hub.config.settings import (
    AuthSettings,
    ComponentSettings,
    HubSettings,
    Settings,
    UpbitSettings,
)


def _problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data, "test")
    return info.value.problems


def test_an_empty_file_means_live_upbit_simple_and_compression():
    s = parse_settings("", environ={})
    assert s == Settings()
    assert s.upbit.rest_url == "https://api.upbit.com"
    assert s.upbit.websocket_url == "wss://api.upbit.com/websocket/v1"
    assert s.upbit.private_websocket_url == "wss://api.upbit.com/websocket/v1/private"
    assert s.upbit.format == "SIMPLE"
    assert s.upbit.compression is True
    assert s.components == []


def test_defaults_match_the_brief_field_by_field():
    s = Settings()
    assert (s.auth.access_key_env, s.auth.secret_key_env) == (
        "UPBIT_ACCESS_KEY",
        "UPBIT_SECRET_KEY",
    )
    assert (s.auth.jwt_algorithm, s.auth.token_lifetime_s) == ("HS512", 60.0)
    assert (s.private.rest_fallback_after_s, s.private.poll_interval_s, s.private.enabled) == (
        10.0, 1.0, True,
    )  # fmt: skip
    h = s.hub
    assert (h.ping_interval_s, h.stale_after_s, h.reconnect_min_s, h.reconnect_max_s) == (
        20.0, 15.0, 0.5, 30.0,
    )  # fmt: skip
    assert (h.stable_after_s, h.connects_per_s, h.messages_per_s, h.messages_per_min) == (
        60.0, 4.0, 4.0, 90,
    )  # fmt: skip
    assert (h.coalesce_ms, h.trade_queue_size, h.request_timeout_s) == (50, 10000, 10.0)
    assert (s.status.interval_s, s.status.enabled) == (5.0, True)
    e = s.emulator
    assert (e.host, e.port, e.rate, e.seed) == ("127.0.0.1", 0, 200.0, 7)
    assert e.markets == ["KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE", "KRW-ADA"]


def test_the_shipped_default_toml_spells_out_exactly_the_struct_defaults():
    assert builtin_settings("default", environ={}) == Settings()


def test_the_shipped_sim_toml_loads_and_points_at_loopback():
    s = builtin_settings("sim", environ={})
    assert s.upbit.rest_url == "http://127.0.0.1:0"
    assert s.upbit.websocket_url.startswith("ws://127.0.0.1:")


def test_settings_are_frozen():
    s = Settings()
    with pytest.raises(AttributeError):
        s.hub = HubSettings()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.hub.ping_interval_s = 1.0  # type: ignore[misc]


def test_integers_are_accepted_for_float_fields_and_become_floats():
    s = settings_from_mapping(
        {"private": {"rest_fallback_after_s": 3}, "hub": {"ping_interval_s": 5}}
    )
    assert s.private.rest_fallback_after_s == 3.0 and isinstance(s.hub.ping_interval_s, float)


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("upbit", "rest_url", "wss://api.upbit.com", "must start with http:// or https://"),
        ("upbit", "rest_url", "api.upbit.com", "no scheme"),
        ("upbit", "rest_url", "https://", "no host"),
        ("upbit", "rest_url", "https://api.upbit.com/v1", "without /v1"),
        ("upbit", "rest_url", "https://api.upbit.com?x=1", "query"),
        ("upbit", "rest_url", "https://api.upbit.com:99999", "not a valid URL"),
        ("upbit", "websocket_url", "https://api.upbit.com/websocket/v1", "ws:// or wss://"),
        ("upbit", "private_websocket_url", "http://h/websocket/v1/private", "ws:// or wss://"),
        ("upbit", "format", "XML", "must be one of"),
        ("upbit", "format", "simple", "did you mean 'SIMPLE'"),
        ("upbit", "compression", "yes", "expected `bool`"),
        ("auth", "access_key_env", "1BAD", "regex"),
        ("auth", "access_key_env", "MY-KEY", "regex"),
        ("auth", "secret_key_env", "", "regex"),
        ("auth", "jwt_algorithm", "RS256", "'HS512', 'HS256'"),
        ("auth", "token_lifetime_s", 0.5, ">= 1.0"),
        ("private", "rest_fallback_after_s", -1, ">= 0.0"),
        ("private", "poll_interval_s", 0, ">= 0.1"),
        ("private", "enabled", 1, "expected `bool`"),
        ("hub", "ping_interval_s", 0, "> 0.0"),
        ("hub", "ping_interval_s", 61, "<= 60.0"),
        ("hub", "stale_after_s", 0, "> 0.0"),
        ("hub", "reconnect_min_s", 0, "> 0.0"),
        ("hub", "reconnect_max_s", -1, "> 0.0"),
        ("hub", "stable_after_s", -1, ">= 0.0"),
        ("hub", "connects_per_s", 6, "<= 5.0"),
        ("hub", "connects_per_s", 0, "> 0.0"),
        ("hub", "messages_per_s", 5.5, "<= 5.0"),
        ("hub", "messages_per_min", 101, "<= 100"),
        ("hub", "messages_per_min", 0, ">= 1"),
        ("hub", "messages_per_min", 9.5, "expected `int`"),
        ("hub", "coalesce_ms", -1, ">= 0"),
        ("hub", "coalesce_ms", 10_001, "<= 10000"),
        ("hub", "trade_queue_size", 0, ">= 1"),
        ("hub", "request_timeout_s", 0, "> 0.0"),
        ("hub", "request_timeout_s", "10", "expected `float`, got `str`"),
        ("status", "interval_s", 0, ">= 0.1"),
        ("status", "enabled", "true", "expected `bool`"),
        ("emulator", "host", "", "length >= 1"),
        ("emulator", "port", 65_536, "<= 65535"),
        ("emulator", "port", -1, ">= 0"),
        ("emulator", "port", True, "expected `int`, got `bool`"),
        ("emulator", "markets", [], "length >= 1"),
        ("emulator", "markets", "KRW-BTC", "expected `array`"),
        ("emulator", "markets", ["KRW-BTC", "KRW-BTC"], "KRW-BTC more than once"),
        ("emulator", "rate", 0, "> 0.0"),
        ("emulator", "seed", 1.5, "expected `int`"),
    ],
)
def test_each_constraint_rejects_a_bad_value_naming_its_key(section, key, value, fragment):
    problems = _problems({section: {key: value}})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{section}.{key}"), problems
    assert fragment in problems[0], problems


def test_a_market_code_problem_names_the_list_index_and_the_value():
    problems = _problems({"emulator": {"markets": ["KRW-BTC", "btc"]}})
    assert problems[0].startswith("emulator.markets[1]:") and "'btc'" in problems[0]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("hub", "ping_interval_s", 60),
        ("hub", "connects_per_s", 5),
        ("hub", "messages_per_s", 5),
        ("hub", "messages_per_min", 100),
        ("hub", "coalesce_ms", 0),
        ("private", "rest_fallback_after_s", 0),
        ("emulator", "port", 65_535),
        ("upbit", "rest_url", "http://127.0.0.1:0"),
        ("upbit", "rest_url", "https://proxy.example/upbit"),
        ("upbit", "websocket_url", "ws://[::1]:8080/websocket/v1"),
        ("auth", "jwt_algorithm", "HS256"),
        ("upbit", "format", "JSON_LIST"),
    ],
)
def test_boundary_values_are_accepted(section, key, value):
    s = settings_from_mapping({section: {key: value}})
    assert getattr(getattr(s, section), key) == value


def test_reconnect_min_above_max_is_a_cross_field_problem():
    problems = _problems({"hub": {"reconnect_min_s": 40, "reconnect_max_s": 30}})
    assert problems == ["hub.reconnect_min_s: 40.0 must not exceed reconnect_max_s (30.0)"]


def test_component_ids_must_match_the_id_pattern_and_plugin_must_be_named():
    problems = _problems({"components": [{"plugin": "", "id": "has space"}]})
    assert any(p.startswith("components[0].plugin:") for p in problems), problems
    assert any(p.startswith("components[0].id:") and "'has space'" in p for p in problems)


def test_component_params_must_be_a_table():
    problems = _problems({"components": [{"plugin": "p", "id": "a", "params": 5}]})
    assert problems[0].startswith("components[0].params:"), problems


def test_components_get_defaults_for_enabled_and_params():
    s = settings_from_mapping({"components": [{"plugin": "p", "id": "a.b-c_1"}]})
    assert s.components == [ComponentSettings(plugin="p", id="a.b-c_1", enabled=True, params={})]


def test_a_trailing_slash_on_rest_url_is_dropped():
    s = settings_from_mapping({"upbit": {"rest_url": "https://api.upbit.com/"}})
    assert s.upbit.rest_url == "https://api.upbit.com"


def test_direct_construction_still_enforces_cross_field_rules():
    with pytest.raises(ValueError, match="reconnect_max_s"):
        HubSettings(reconnect_min_s=5.0, reconnect_max_s=1.0)
    with pytest.raises(ValueError, match="ws:// or wss://"):
        UpbitSettings(websocket_url="http://x/websocket/v1")
    dup = [ComponentSettings(plugin="p", id="x"), ComponentSettings(plugin="q", id="x")]
    with pytest.raises(ValueError, match="duplicate component id 'x'"):
        Settings(components=dup)


def test_msgspec_convert_also_rejects_unknown_fields():
    with pytest.raises(msgspec.ValidationError, match="unknown field `fromat`"):
        msgspec.convert({"upbit": {"fromat": "SIMPLE"}}, Settings)


def test_with_emulator_points_all_three_urls_at_the_emulator():
    base = Settings(upbit=UpbitSettings(format="DEFAULT", compression=False))
    s = base.with_emulator("http://127.0.0.1:50123")
    assert s.upbit.rest_url == "http://127.0.0.1:50123"
    assert s.upbit.websocket_url == "ws://127.0.0.1:50123/websocket/v1"
    assert s.upbit.private_websocket_url == "ws://127.0.0.1:50123/websocket/v1/private"
    assert (s.upbit.format, s.upbit.compression) == ("DEFAULT", False)  # the rest is kept
    assert base.upbit.rest_url == "https://api.upbit.com"  # the original is unchanged
    assert s.hub == base.hub


def test_with_emulator_maps_https_to_wss_and_drops_a_trailing_slash():
    s = Settings().with_emulator("https://emu.local:8443/")
    assert s.upbit.rest_url == "https://emu.local:8443"
    assert s.upbit.websocket_url == "wss://emu.local:8443/websocket/v1"


@pytest.mark.parametrize("bad", ["ws://127.0.0.1:1", "127.0.0.1:1", "http://127.0.0.1:1/v1"])
def test_with_emulator_rejects_anything_but_a_plain_http_base(bad):
    with pytest.raises(ValueError, match="emulator base URL"):
        Settings().with_emulator(bad)


def test_read_keys_returns_both_keys_from_the_named_variables():
    auth = AuthSettings(access_key_env="MY_AK", secret_key_env="MY_SK")
    assert auth.read_keys({"MY_AK": "ak-1", "MY_SK": "sk-2"}) == ("ak-1", "sk-2")


def test_read_keys_names_the_missing_variable_and_never_the_value():
    value = "sekrit-access-value-123"
    with pytest.raises(CredentialsError) as info:
        AuthSettings().read_keys({"UPBIT_ACCESS_KEY": value})
    msg = str(info.value)
    assert "UPBIT_SECRET_KEY" in msg
    assert "UPBIT_ACCESS_KEY" not in msg
    assert value not in msg


def test_read_keys_names_both_variables_when_both_are_missing_or_empty():
    with pytest.raises(CredentialsError) as info:
        AuthSettings(access_key_env="AK", secret_key_env="SK").read_keys({"AK": ""})
    assert "AK and SK are not set" in str(info.value)


def test_the_commented_examples_in_default_toml_are_valid_once_uncommented(tmp_path):
    from importlib import resources

    from upbit_hub.config.check_cmd import check

    text = resources.files("upbit_hub.config").joinpath("default.toml").read_text("utf-8")
    lines = [line[2:] if line.startswith("# [") or (line.startswith("# ") and "=" in line)
             else line for line in text.splitlines()]  # fmt: skip
    path = tmp_path / "uncommented.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    s = parse_settings(path.read_text("utf-8"), environ={})
    assert s.metrics.port == 9464
    assert [c.plugin for c in s.components] == ["ticker-board"]
    _, problems = check(str(path))  # the plugin exists and takes those params
    assert problems == []
