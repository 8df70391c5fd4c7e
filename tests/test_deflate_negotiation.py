"""parse_extension_response: the server's Sec-WebSocket-Extensions answer (RFC 7692 section 7),
plus the import-time version guard. Pure, no sockets."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest
import websocket

from upbit_hub.actors.protocol.errors import ProtocolError
from upbit_hub.actors.wsdeflate import DeflateParams, parse_extension_response


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("permessage-deflate", DeflateParams()),
        ("permessage-deflate; client_max_window_bits=15", DeflateParams()),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True),
        ),
        (
            "Permessage-Deflate ;Server_Max_Window_Bits=9; client_max_window_bits=\"10\"",
            DeflateParams(server_max_window_bits=9, client_max_window_bits=10),
        ),
        ("permessage-deflate; server_max_window_bits=8", DeflateParams(server_max_window_bits=8)),
    ],
)
def test_valid_answers_are_parsed_into_params(answer, expected):
    assert parse_extension_response(answer, offered=True) == expected


@pytest.mark.parametrize("answer", [None, "", "   "])
def test_no_answer_means_the_server_declined(answer):
    assert parse_extension_response(answer, offered=True) is None
    assert parse_extension_response(answer, offered=False) is None


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("x-webkit-deflate-frame", "not offered"),
        ("permessage-deflate, x-other", "only one"),
        ("permessage-deflate; server_max_window_bits", "8..15"),
        ("permessage-deflate; server_max_window_bits=7", "8..15"),
        ("permessage-deflate; client_max_window_bits=16", "8..15"),
        ("permessage-deflate; server_max_window_bits=012", "8..15"),
        ("permessage-deflate; server_max_window_bits=abc", "8..15"),
        ("permessage-deflate; server_no_context_takeover=1", "takes no value"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "repeated"),
        ("permessage-deflate; mystery=1", "unknown"),
        ("permessage-deflate;", "empty parameter"),
        ("permessage-deflate=1", "not offered"),
    ],
)
def test_invalid_answers_raise_protocol_error_naming_the_problem(answer, words):
    with pytest.raises(ProtocolError, match=words):
        parse_extension_response(answer, offered=True)


def test_any_extension_answer_is_an_error_when_nothing_was_offered():
    with pytest.raises(ProtocolError, match="none was offered"):
        parse_extension_response("permessage-deflate", offered=False)


def test_params_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DeflateParams().server_max_window_bits = 9  # type: ignore[misc]


def test_import_refuses_a_websocket_client_version_it_was_not_checked_against(monkeypatch):
    import upbit_hub.actors.wsdeflate as mod

    monkeypatch.setattr(websocket, "__version__", "1.9.3")
    spec = importlib.util.spec_from_file_location("wsdeflate_version_probe", mod.__file__)
    probe = importlib.util.module_from_spec(spec)
    with pytest.raises(ImportError, match=r"websocket-client==1\.9\.2"):
        spec.loader.exec_module(probe)
