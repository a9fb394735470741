"""What an OTLP bearer token may hold: only what travels intact in OTEL_EXPORTER_OTLP_HEADERS."""

from __future__ import annotations

import secrets
from urllib.parse import unquote

import pytest

from stackkit.tokens import ALLOWED, header_token_problem, token_problem

GOOD = "0123456789abcdef-._~XYZ"

# Each breaks the header Claude Code sends (split, decoded, cut) or is no secret at all.
UNTRAVELLED = {
    "comma": "abcdefgh,ijklmnop",  # splits into a second, name-less item
    "percent": "abcdefgh%41ijklmnop",  # decoded to another token
    "space": "abcdefgh ijklmnop",
    "semicolon": "abcdefgh;ijklmnop",  # a baggage property separator
    "equals": "abcdefghijklmnop==",  # older SDKs drop an item with two '='
    "plus": "abcdefgh+ijklmnop",  # unquote_plus makes it a space
    "slash": "abcdefgh/ijklmnop",
    "newline": "abcdefgh\nijklmnop",
    "double quote": 'abcdefgh"ijklmnop',
    "single quote": "abcdefgh'ijklmnop",
    "backtick": "abcdefgh`id`ijklmnop",
    "dollar": "abcdefgh$HOMEijklmnop",
    "non-ascii": "abcdefghijklmnopé",
    "nul": "abcdefgh\x00ijklmnop",
}


@pytest.mark.parametrize("value", UNTRAVELLED.values(), ids=UNTRAVELLED.keys())
def test_characters_that_cannot_travel_are_named(value: str) -> None:
    problem = token_problem(value)
    assert problem is not None and "cannot travel in OTEL_EXPORTER_OTLP_HEADERS" in problem
    assert ALLOWED in problem
    assert "abcdefgh" not in problem, "the message never quotes the token"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("short", "5 characters long; a token needs at least 16"),
        ("", "0 characters long"),
        ("abcdefghijklmno", "15 characters long"),
        ("a" * 40, "fewer than 6 different characters"),
        ("ab" * 20, "fewer than 6 different characters"),
        ("abcdef0123" * 500, "5000 characters long; a token may have at most 4096"),
    ],
)
def test_tokens_too_short_or_too_plain_are_refused(value: str, message: str) -> None:
    assert message in (token_problem(value) or "")


@pytest.mark.parametrize("value", [GOOD, "a1b2c3d4e5f6g7h8", "x" * 4090 + "abcdef"])
def test_usable_tokens_pass(value: str) -> None:
    assert token_problem(value) is None


def test_the_generated_token_is_always_usable() -> None:
    """stackkit generates `secrets.token_urlsafe(32)`: 43 of A-Z a-z 0-9 - _."""
    for _ in range(2000):
        assert token_problem(secrets.token_urlsafe(32)) is None
    # `openssl rand -hex 32`, which the messages suggest
    assert token_problem(secrets.token_hex(32)) is None


def test_a_usable_token_survives_the_header_as_clients_read_it() -> None:
    header = f"Authorization=Bearer {GOOD}"
    key, _, value = header.split(",")[0].partition("=")
    assert (unquote(key), unquote(value)) == ("Authorization", f"Bearer {GOOD}")
    assert header_token_problem(header) is None


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("Authorization=Bearer abcdefgh,ijklmnop", "an item with no '='"),
        ("Authorization=Bearer abcdefgh%41ijklmnop", "its bearer token contains '%'"),
        ("authorization=bearer abcdefgh ijklmnop", "its bearer token contains ' '"),
        ("x-a=1,Authorization=Bearer abc;def", "its bearer token contains ';'"),
    ],
)
def test_a_header_that_lost_its_token_is_named(headers: str, message: str) -> None:
    problem = header_token_problem(headers)
    assert problem is not None and message in problem and ALLOWED in problem


@pytest.mark.parametrize("headers", ["", "x-team=a%20b", f"Authorization=Bearer {GOOD},x=1"])
def test_other_headers_are_left_alone(headers: str) -> None:
    assert header_token_problem(headers) is None
