"""What an OTLP bearer token may look like: it must travel intact in OTEL_EXPORTER_OTLP_HEADERS.

That variable is a W3C-baggage-like list, ``key=value,key2=value2``, whose values are
percent-decoded by the client: a ``,`` splits the token in two, a ``%`` is decoded into another
character, a space, ``;`` or ``=`` is cut or dropped by some OpenTelemetry SDKs. Claude Code
then sends a different token and every request is refused (401) without a word. So a token holds
only RFC 3986's unreserved characters, which no client changes, and is long enough not to be
guessed. Standard library only: `stackkit env` checks the token during shell start-up.
"""

from __future__ import annotations

MIN_LENGTH = 16
MAX_LENGTH = 4096
MIN_DISTINCT = 6
ALLOWED = "letters A-Z a-z, digits 0-9 and - . _ ~"
ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
HOW_TO_MAKE = "e.g. the output of `openssl rand -hex 32`"


def token_problem(value: str) -> str | None:
    """Why ``value`` cannot be the OTLP bearer token, or None when it can.

    The message never quotes the token (it is a secret), only the characters that are wrong.
    """
    if bad := sorted(set(value) - ALPHABET):
        shown = " ".join(repr(c) for c in bad[:5]) + (" ..." if len(bad) > 5 else "")
        return (
            f"it contains {shown}, which cannot travel in OTEL_EXPORTER_OTLP_HEADERS; a token "
            f"may hold only {ALLOWED}"
        )
    if len(value) < MIN_LENGTH:
        return f"it is {len(value)} characters long; a token needs at least {MIN_LENGTH}"
    if len(value) > MAX_LENGTH:
        return f"it is {len(value)} characters long; a token may have at most {MAX_LENGTH}"
    if len(set(value)) < MIN_DISTINCT:
        return f"it uses fewer than {MIN_DISTINCT} different characters, which is easy to guess"
    return None


def header_token_problem(headers: str) -> str | None:
    """Why an OTEL_EXPORTER_OTLP_HEADERS value cannot carry a bearer token intact, or None.

    Checks the raw text, before percent-decoding: an item without ``=`` is what is left of a
    token split at a ``,``; a ``%`` or space in the token is decoded or cut by the client.
    """
    for item in headers.split(","):
        key, sep, value = item.partition("=")
        if not item.strip():
            continue
        if not sep:
            return (
                "it holds an item with no '=' (what is left of a token split at a ','); "
                f"a token may hold only {ALLOWED}"
            )
        scheme, _, token = value.strip().partition(" ")
        if key.strip().lower() == "authorization" and scheme.lower() == "bearer":
            if bad := sorted(set(token) - ALPHABET):
                shown = " ".join(repr(c) for c in bad[:5])
                return (
                    f"its bearer token contains {shown}, which the client changes or cuts; a "
                    f"token may hold only {ALLOWED}"
                )
    return None
