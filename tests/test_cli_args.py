"""The checked option types of actors/cli_args.py: good values parse, bad ones say why."""

from __future__ import annotations

import argparse

import pytest

from upbit_hub.actors import cli_args as A


@pytest.mark.parametrize(("func", "text", "value"), [
    (A.positive_float, "0.05", 0.05),
    (A.positive_float, "5", 5.0),
    (A.non_negative_float, "0", 0.0),
    (A.positive_int, "1", 1),
    (A.non_negative_int, "0", 0),
    (A.port, "0", 0),
    (A.port, "65535", 65535),
    (A.log_level, "debug", "DEBUG"),
    (A.log_level, "Info", "INFO"),
    (A.log_level, "warn", "WARNING"),
    (A.log_level, "CRITICAL", "CRITICAL"),
    (A.market_codes, "KRW-BTC, KRW-ETH", ("KRW-BTC", "KRW-ETH")),
])  # fmt: skip
def test_good_values_parse_to_the_expected_value(func, text, value):
    assert func(text) == value


@pytest.mark.parametrize(("func", "text", "message"), [
    (A.positive_float, "-1", "must be > 0, got -1"),
    (A.positive_float, "0", "must be > 0, got 0"),
    (A.positive_float, "abc", "expected a number, got 'abc'"),
    (A.positive_float, "nan", "expected a finite number, got 'nan'"),
    (A.non_negative_float, "-0.5", "must be >= 0, got -0.5"),
    (A.non_negative_float, "inf", "expected a finite number, got 'inf'"),
    (A.positive_int, "0", "must be >= 1, got 0"),
    (A.positive_int, "1.5", "expected a whole number, got '1.5'"),
    (A.non_negative_int, "-3", "must be >= 0, got -3"),
    (A.port, "99999", "must be a port number from 0 to 65535 (0 picks a free port), got 99999"),
    (A.port, "-1", "must be a port number from 0 to 65535 (0 picks a free port), got -1"),
    (A.log_level, "verbose",
     "unknown log level 'verbose': use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)"),
    (A.market_codes, ",", "needs at least one market code, e.g. KRW-BTC,KRW-ETH"),
    (A.market_codes, "krw-btc,KRW-ETH",
     "market codes look like KRW-BTC (upper case QUOTE-BASE), got krw-btc"),
    (A.market_codes, "KRW-BTC,KRW-BTC", "lists KRW-BTC more than once"),
])  # fmt: skip
def test_bad_values_raise_an_argparse_error_saying_what_is_wanted(func, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        func(text)
    assert str(info.value) == message


def test_argparse_turns_a_bad_value_into_one_error_line_and_exit_2(capsys):
    parser = argparse.ArgumentParser(prog="upbit-hub run")
    parser.add_argument("--status-interval", type=A.positive_float, default=5.0)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--status-interval", "-1"])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "upbit-hub run: error: argument --status-interval: must be > 0, got -1"
