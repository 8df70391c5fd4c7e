"""Loading settings: every problem at once, suggestions, sources and environment overrides."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Literal

import hypothesis
import msgspec
import pytest
from hypothesis import strategies as st

from upbit_hub.actors.protocol.errors import ConfigError
from upbit_hub.config.loader import (
    load_settings,
    parse_settings,
    settings_from_mapping,
    validate_component_params,
)
from upbit_hub.config.settings import Settings


def _write(tmp_path: Path, text: str, name: str = "hub.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(source, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(source, environ=kw.pop("environ", {}), **kw)
    return info.value


def test_two_typos_in_two_sections_are_both_reported_with_suggestions(tmp_path):
    path = _write(tmp_path, '[upbit]\nfromat = "SIMPLE"\n\n[hub]\nping_intervl_s = 5\n')
    err = _error(path)
    assert err.problems == [
        "unknown key 'upbit.fromat' — did you mean 'format'?",
        "unknown key 'hub.ping_intervl_s' — did you mean 'ping_interval_s'?",
    ]
    assert err.source == str(path)
    assert str(path) in str(err)


def test_every_kind_of_problem_is_collected_in_one_error(tmp_path):
    text = """
[upbit]
format = "XML"
rest_url = "ftp://api.upbit.com"
[hub]
reconnect_min_s = 9
reconnect_max_s = 1
messages_per_min = "many"
[sttus]
interval_s = 1
[[components]]
id = "a"
[[components]]
plugin = "p"
id = "b"
plugn = "q"
[[components]]
plugin = "p"
id = "a"
"""
    problems = _error(_write(tmp_path, text)).problems
    heads = [p.split(":", 1)[0] for p in problems]
    assert heads == [
        "unknown key 'sttus' — did you mean 'status'?",
        "upbit.format",
        "upbit.rest_url",
        "hub.messages_per_min",
        "hub.reconnect_min_s",
        "components[0].plugin",
        "unknown key 'components[1].plugn' — did you mean 'plugin'?",
        "components[2].id",
    ]
    assert any("duplicate component id 'a' (also components[0].id)" in p for p in problems)
    assert any(p == "components[0].plugin: missing required key" for p in problems)


def test_a_section_key_written_at_the_top_level_points_to_its_section():
    with pytest.raises(ConfigError) as info:
        parse_settings('format = "SIMPLE"\n')
    assert info.value.problems == [
        "unknown key 'format' — did you mean 'upbit.format' (under [upbit])?"
    ]


def test_an_unknown_key_without_a_close_match_lists_the_valid_keys():
    with pytest.raises(ConfigError) as info:
        parse_settings("[status]\nzzz = 1\n")
    assert info.value.problems == [
        "unknown key 'status.zzz' (valid keys here: interval_s, enabled)"
    ]


def test_a_section_that_is_not_a_table_is_reported():
    with pytest.raises(ConfigError) as info:
        parse_settings('hub = 3\ncomponents = "x"\n')
    assert info.value.problems == [
        "hub: expected a table, got int 3",
        "components: expected an array of tables ([[components]]), got str 'x'",
    ]


def test_duplicate_component_ids_are_reported_for_every_repeat(tmp_path):
    text = "".join(f'[[components]]\nplugin = "p"\nid = "{i}"\n' for i in ("x", "y", "x", "x"))
    problems = _error(_write(tmp_path, text)).problems
    assert [p.split(":")[0] for p in problems] == ["components[2].id", "components[3].id"]


def test_a_toml_syntax_error_gives_line_and_column(tmp_path):
    path = _write(tmp_path, '[upbit]\nformat = "SIMPLE"\ncompression = = true\n')
    problems = _error(path).problems
    assert len(problems) == 1
    assert problems[0].startswith("TOML syntax error at line 3, column 15:"), problems


def test_a_missing_file_is_a_config_error_naming_the_file(tmp_path):
    err = _error(tmp_path / "nope.toml")
    assert err.source.endswith("nope.toml")
    assert err.problems == ["cannot read settings file: No such file or directory"]


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[upbit]\nformat = "\xe9"\n')
    assert "not UTF-8" in _error(path).problems[0]


def test_no_source_and_no_environment_gives_the_built_in_defaults():
    assert load_settings(None, environ={}) == Settings()


def test_no_source_reads_the_file_named_by_upbit_hub_config(tmp_path):
    path = _write(tmp_path, "[hub]\nping_interval_s = 7\n")
    s = load_settings(environ={"UPBIT_HUB_CONFIG": str(path)})
    assert s.hub.ping_interval_s == 7.0


def test_a_missing_upbit_hub_config_file_says_where_the_name_came_from(tmp_path):
    err = _error(None, environ={"UPBIT_HUB_CONFIG": str(tmp_path / "gone.toml")})
    assert "from UPBIT_HUB_CONFIG" in err.source


def test_an_explicit_path_wins_over_upbit_hub_config(tmp_path):
    mine = _write(tmp_path, "[hub]\nping_interval_s = 3\n", "mine.toml")
    other = _write(tmp_path, "[hub]\nping_interval_s = 9\n", "other.toml")
    s = load_settings(str(mine), environ={"UPBIT_HUB_CONFIG": str(other)})
    assert s.hub.ping_interval_s == 3.0


def test_environment_urls_override_the_file(tmp_path):
    path = _write(tmp_path, '[upbit]\nrest_url = "https://file.example"\n')
    env = {
        "UPBIT_HUB_REST_URL": "http://127.0.0.1:9000",
        "UPBIT_HUB_WEBSOCKET_URL": "ws://127.0.0.1:9000/websocket/v1",
        "UPBIT_HUB_PRIVATE_WEBSOCKET_URL": "ws://127.0.0.1:9000/websocket/v1/private",
    }
    s = load_settings(path, environ=env)
    assert s.upbit.rest_url == "http://127.0.0.1:9000"
    assert s.upbit.websocket_url == "ws://127.0.0.1:9000/websocket/v1"
    assert s.upbit.private_websocket_url == "ws://127.0.0.1:9000/websocket/v1/private"


def test_environment_overrides_apply_to_the_built_in_defaults_too():
    s = load_settings(None, environ={"UPBIT_HUB_WEBSOCKET_URL": "ws://10.0.0.1:1/websocket/v1"})
    assert s.upbit.websocket_url == "ws://10.0.0.1:1/websocket/v1"
    assert s.upbit.rest_url == "https://api.upbit.com"


def test_an_empty_environment_override_is_ignored(tmp_path):
    s = load_settings(_write(tmp_path, ""), environ={"UPBIT_HUB_REST_URL": ""})
    assert s.upbit.rest_url == "https://api.upbit.com"


def test_a_bad_environment_url_names_the_variable(tmp_path):
    err = _error(_write(tmp_path, ""), environ={"UPBIT_HUB_WEBSOCKET_URL": "http://x"})
    assert err.problems == [
        "upbit.websocket_url: 'http://x' must start with ws:// or wss:// (got 'http://') "
        "(set by environment variable UPBIT_HUB_WEBSOCKET_URL)"
    ]


def test_a_settings_object_is_returned_as_is_without_overrides():
    s = Settings().with_emulator("http://127.0.0.1:1234")
    assert load_settings(s, environ={"UPBIT_HUB_REST_URL": "http://elsewhere:1"}) is s


def test_a_source_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError):
        load_settings(42)  # type: ignore[arg-type]


# -- plugin params ------------------------------------------------------------------------


class _Depth(msgspec.Struct, forbid_unknown_fields=True):
    levels: int = 15


class _Config(msgspec.Struct, frozen=True, kw_only=True):
    symbols: list[str]
    interval: str = "1m"
    depth: _Depth = msgspec.field(default_factory=_Depth)


class _Checked(msgspec.Struct, kw_only=True):
    lo: int = 0
    hi: int = 10

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise ValueError("lo must not exceed hi")


def test_params_validate_into_the_plugin_config_with_defaults():
    cfg, problems = validate_component_params(
        _Config, {"symbols": ["KRW-BTC"]}, "components[0].params"
    )
    assert problems == []
    assert cfg == _Config(symbols=["KRW-BTC"], interval="1m", depth=_Depth(levels=15))


def test_bad_params_report_every_problem_with_key_paths_and_suggestions():
    params = {"symbls": ["KRW-BTC"], "interval": 1, "depth": {"levles": 5}}
    cfg, problems = validate_component_params(_Config, params, "components[2].params")
    assert cfg is None
    assert problems == [
        "unknown key 'components[2].params.symbls' — did you mean 'symbols'?",
        "components[2].params.symbols: missing required key",
        "components[2].params.interval: expected `str`, got `int`",
        "unknown key 'components[2].params.depth.levles' — did you mean 'levels'?",
    ]


def test_a_plugin_config_post_init_rejection_is_a_problem_not_a_crash():
    cfg, problems = validate_component_params(_Checked, {"lo": 5, "hi": 1}, "components[0].params")
    assert cfg is None
    assert problems == ["components[0].params: lo must not exceed hi"]


def test_a_plugin_without_config_accepts_only_empty_params():
    assert validate_component_params(None, {}, "components[0].params") == (None, [])
    cfg, problems = validate_component_params(None, {"a": 1, "b": 2}, "components[0].params")
    assert cfg is None
    assert problems == [
        "components[0].params: this plugin declares no Config and takes no params; remove 'a', 'b'"
    ]


# -- property: a one-letter slip in any key is caught and the right key suggested ----------

_SECTION_KEYS = [
    (section.encode_name, f.encode_name)
    for section in msgspec.structs.fields(Settings)
    if section.encode_name != "components"
    for f in msgspec.structs.fields(section.type)
    if len(f.encode_name) >= 5
]


@hypothesis.settings(derandomize=True, max_examples=200, deadline=None)
@hypothesis.given(st.sampled_from(_SECTION_KEYS), st.data())
def test_dropping_any_one_letter_of_any_key_suggests_that_key(section_key, data):
    section, key = section_key
    i = data.draw(st.integers(0, len(key) - 1))
    typo = key[:i] + key[i + 1 :]
    hypothesis.assume(typo not in {k for s, k in _SECTION_KEYS if s == section})
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({section: {typo: 1}})
    assert info.value.problems == [f"unknown key '{section}.{typo}' — did you mean '{key}'?"]


# -- enum values: the error lists what is allowed -------------------------------------------


def test_a_bad_value_in_a_list_of_choices_lists_the_allowed_values_and_suggests_one():
    from upbit_hub.plugins.builtin.recorder import RecorderConfig

    params = {"path": "rec.jsonl", "types": ["tickers", "trade", "MYORDER"]}
    cfg, problems = validate_component_params(RecorderConfig, params, "components[2].params")
    assert cfg is None
    allowed = "'ticker', 'trade', 'orderbook', 'candle', 'myOrder', 'myAsset'"
    assert problems == [
        f"components[2].params.types[0]: must be one of {allowed}, got 'tickers'"
        " — did you mean 'ticker'?",
        f"components[2].params.types[2]: must be one of {allowed}, got 'MYORDER'"
        " — did you mean 'myOrder'?",
    ]


def test_a_bad_recorder_type_in_a_settings_file_names_the_allowed_types(tmp_path):
    from upbit_hub.config.check_cmd import check

    path = _write(tmp_path, '[[components]]\nplugin = "recorder"\nid = "rec"\n'
                            '[components.params]\npath = "r.jsonl"\ntypes = ["tickers"]\n')
    _, problems = check(str(path))
    assert len(problems) == 1
    assert problems[0].startswith("components[0].params.types[0]: must be one of 'ticker', ")
    assert "'myAsset', got 'tickers' — did you mean 'ticker'?" in problems[0]


class _Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class _Choices(msgspec.Struct, frozen=True, kw_only=True):
    color: _Color = _Color.RED
    by_market: dict[str, Literal["up", "down"]] = msgspec.field(default_factory=dict)
    maybe: Literal["a", "b"] | None = None
    levels: Annotated[tuple[Literal[1, 5, 15], ...], msgspec.Meta(min_length=1)] = (1,)


def test_enum_dict_value_optional_and_tuple_choices_are_checked_item_by_item():
    params = {"color": "Red", "by_market": {"KRW-BTC": "upp"}, "maybe": "c", "levels": [5, 7]}
    cfg, problems = validate_component_params(_Choices, params, "p")
    assert cfg is None
    assert problems == [
        "p.color: must be one of 'red', 'green', got 'Red' — did you mean 'red'?",
        "p.by_market.KRW-BTC: must be one of 'up', 'down', got 'upp' — did you mean 'up'?",
        "p.maybe: must be one of 'a', 'b', got 'c'",
        "p.levels[1]: must be one of 1, 5, 15, got 7",
    ]


def test_good_choices_still_convert_and_collection_constraints_still_apply():
    cfg, problems = validate_component_params(
        _Choices, {"color": "green", "by_market": {"KRW-BTC": "up"}, "levels": [1, 15]}, "p"
    )
    assert problems == []
    assert cfg == _Choices(color=_Color.GREEN, by_market={"KRW-BTC": "up"}, levels=(1, 15))
    _, problems = validate_component_params(_Choices, {"levels": []}, "p")
    assert problems == ["p.levels: expected `array` of length >= 1, got []"]


def test_every_bad_item_of_a_list_is_reported_not_only_the_first():
    _, problems = validate_component_params(
        _Config, {"symbols": ["KRW-BTC", 1, 2]}, "components[0].params"
    )
    assert problems == [
        "components[0].params.symbols[1]: expected `str`, got `int`",
        "components[0].params.symbols[2]: expected `str`, got `int`",
    ]


def test_metrics_port_is_off_by_default_and_checked_against_the_port_range():
    assert Settings().metrics.port is None
    assert settings_from_mapping({"metrics": {"port": 0}}).metrics.port == 0
    assert settings_from_mapping({"metrics": {"port": 9464}}).metrics.port == 9464
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"metrics": {"port": 70000, "hots": "0.0.0.0"}})
    assert info.value.problems == [
        "unknown key 'metrics.hots' — did you mean 'host'?",
        "metrics.port: expected `int` <= 65535, got 70000",
    ]
