"""Who may write to and read from the stack's own Prometheus.

Prometheus listens for the Collector's pushes (its OTLP receiver) and for queries on one port, and
without a web configuration it takes both from anyone who reaches that port: a forged running
total under someone else's name, or everyone's cost per person read out. So the stack's
Prometheus checks a credential on every request (``--web.config.file``, basic auth), for two
accounts:

* ``otelcol``: the Collector, the only writer;
* ``stackkit``: Grafana's data source, `stackkit status` and `verify`, Prometheus' own scrape of
  itself and its health checks, and people (`stackkit secret prometheus-password`).

Prometheus has no permission per path: whoever holds either password can also use the other's
paths. The writer's password lives only in the Collector; the reader's is what people get.

Both passwords are generated once and kept in the stack's state folder (like Grafana's admin
password). The web configuration holds bcrypt hashes only; their salt is derived from the
password, so the same passwords always give the same file and a redeploy replaces nothing.
"""

from __future__ import annotations

import base64
import hashlib

from .model import PROMETHEUS_READER_USER as READER
from .model import PROMETHEUS_WRITER_USER as WRITER
from .state import read_secret, secret

WRITER_PASSWORD_FILE = "prometheus-otelcol-password"
READER_PASSWORD_FILE = "prometheus-password"
BCRYPT_COST = 10
"""Prometheus checks a hash per new connection and caches the answer: cost 10 is ~50 ms once."""

_STD_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_B64 = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def writer_password(stack_name: str) -> str:
    """The Collector's password (generated on first use)."""
    return secret(stack_name, WRITER_PASSWORD_FILE)


def reader_password(stack_name: str) -> str:
    """The password of the reading account (generated on first use)."""
    return secret(stack_name, READER_PASSWORD_FILE)


def basic_authorization(user: str, password: str) -> str:
    """An ``Authorization`` header value for basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def reader_authorization(stack_name: str) -> str | None:
    """The reading account's header for a stack already deployed; None before its first `up`
    (the password is never generated just to be read)."""
    password = read_secret(stack_name, READER_PASSWORD_FILE)
    return None if password is None else basic_authorization(READER, password)


def _hash(password: str) -> str:
    import bcrypt  # only deploying needs it

    raw = hashlib.sha256(b"stackkit prometheus salt\0" + password.encode()).digest()[:16]
    salt = base64.b64encode(raw).translate(bytes.maketrans(_STD_B64, _BCRYPT_B64))[:22]
    full = f"$2b${BCRYPT_COST:02d}$".encode() + salt
    return bcrypt.hashpw(password.encode(), full).decode("ascii")


def web_config(writer: str, reader: str) -> str:
    """Prometheus' ``--web.config.file`` for the two accounts' passwords."""
    return (
        "# Prometheus web configuration, written by stackkit: basic auth on every request.\n"
        "basic_auth_users:\n"
        f"  {WRITER}: {_hash(writer)}\n"
        f"  {READER}: {_hash(reader)}\n"
    )


def secrets(stack_name: str) -> dict[str, str]:
    """The keys of the Prometheus credentials secret (see ``model.PROMETHEUS_AUTH_SECRET``)."""
    writer, reader = writer_password(stack_name), reader_password(stack_name)
    return {
        "web.yml": web_config(writer, reader),
        "password": reader,
        "authorization": basic_authorization(READER, reader),
        "otelcol-authorization": basic_authorization(WRITER, writer),
    }
