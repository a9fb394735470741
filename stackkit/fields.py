"""Constrained value types for the config: each accepts only what the component reading it accepts.

A value that validates must produce files the Collector, Prometheus and Grafana load, so types
are strict (``true`` is not a port) and free text is checked against the syntax it ends up in.
Each check is a plain function raising ValueError with a message that says what to do; pydantic
types wrap them, and the CLI reuses them for flags.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictInt, StrictStr

# Ports the containers listen on (and Docker publishes as is). Below 1024 needs privileges the
# upstream images do not run with on Kubernetes.
Port = Annotated[StrictInt, Field(ge=1024, le=65535)]
# Money thresholds: finite, at least a cent, and small enough that doubling them stays finite.
Amount = Annotated[float, Field(strict=True, ge=0.01, le=1e9, allow_inf_nan=False)]


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)``, shortened: a message line must stay readable."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def matching(pattern: str, what: str) -> AfterValidator:
    """A check that the whole string matches ``pattern``; the error says what it should be."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{shorten(value)} is not {what}")
        return value

    return AfterValidator(check)


# Environment variable names hold secrets; the secrets themselves never live in the file.
ENV_NAME_RE = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
# Variables the system, the shell or a tool sets for its own ends: one of them as a secret would
# make `$PATH` the token (and, on Docker, replace the Collector container's own PATH).
WELL_KNOWN_ENV = frozenset(
    {
        *("PATH", "HOME", "SHELL", "USER", "LOGNAME", "USERNAME", "PWD", "OLDPWD", "HOSTNAME"),
        *("LANG", "LANGUAGE", "TERM", "COLORTERM", "TZ", "TMPDIR", "TEMP", "TMP", "MAIL"),
        *("EDITOR", "VISUAL", "PAGER", "DISPLAY", "SHLVL", "PS1", "PS2", "IFS", "CDPATH"),
        *("MANPATH", "INFOPATH", "ENV", "BASH_ENV", "HISTFILE", "SSH_AUTH_SOCK", "GNUPGHOME"),
        *("LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"),
        *("KUBECONFIG", "DOCKER_HOST", "DOCKER_CONFIG", "PULUMI_CONFIG_PASSPHRASE"),
        *("STACKKIT_STATE_DIR", "CLAUDE_CODE_ENABLE_TELEMETRY", "NODE_EXTRA_CA_CERTS"),
        *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY"),
    }
)
_WELL_KNOWN_PREFIXES = ("LC_", "XDG_", "OTEL_")


def _secret_env_name(value: str) -> str:
    upper = value.upper()
    if upper in WELL_KNOWN_ENV or upper.startswith(_WELL_KNOWN_PREFIXES):
        raise ValueError(
            f"{value!r} is a variable the system or a tool sets for its own use, not a secret "
            "of this stack: name a variable of your own (e.g. STACKKIT_OTLP_TOKEN) and put the "
            "secret in it"
        )
    return value


EnvName = Annotated[
    StrictStr,
    matching(ENV_NAME_RE, "an environment variable name (letters, digits, _)"),
    AfterValidator(_secret_env_name),
]
# An OpenTelemetry attribute key such as team.id or cost_center.
ATTRIBUTE_KEY_RE = r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}"
AttributeKey = Annotated[
    StrictStr,
    matching(
        ATTRIBUTE_KEY_RE, "an attribute key (letters, digits, _ . -; starting with a letter or _)"
    ),
]
# Lower-case DNS label (stack names, Kubernetes namespaces) and subdomain (storage classes).
_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
DnsLabel = Annotated[
    StrictStr, matching(_LABEL, "a DNS label (a-z, 0-9 and -, at most 63, no - at either end)")
]
StackName = Annotated[
    StrictStr,
    matching(
        r"[a-z0-9](?:[-a-z0-9]{0,38}[a-z0-9])?",
        "a stack name (a-z, 0-9 and -, at most 40, no - at either end)",
    ),
]
DnsSubdomain = Annotated[
    StrictStr,
    matching(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*", "a DNS name (a-z, 0-9, - and .)"),
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(value: str) -> str:
    """Reject control characters (newlines, NUL, escapes): text that must stay on one line."""
    if m := _CONTROL.search(value):
        raise ValueError(f"must not contain control characters (found {m.group()!r})")
    return value


Text = Annotated[StrictStr, Field(min_length=1, max_length=253), AfterValidator(one_line)]
FilePath = Annotated[Path, AfterValidator(lambda p: Path(one_line(str(p))))]


# --- durations --------------------------------------------------------------------------------

_PROM_UNITS = {"y": 31_536_000_000, "w": 604_800_000, "d": 86_400_000, "h": 3_600_000}
_PROM_UNITS |= {"m": 60_000, "s": 1_000, "ms": 1}
_PROM_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?"
    r"(?:([0-9]+)ms)?"
)
_GO_UNITS = {"h": 3600e9, "m": 60e9, "s": 1e9, "ms": 1e6, "us": 1e3, "µs": 1e3, "μs": 1e3, "ns": 1}
_GO_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def prometheus_ms(value: str) -> float:
    """A Prometheus duration in milliseconds (ValueError naming the rules when it is not one)."""
    m = _PROM_RE.fullmatch(value)
    if not value or m is None:
        raise ValueError(
            f"{shorten(value)} is not a Prometheus duration: units y, w, d, h, m, s, ms, "
            "largest first, each at most once (e.g. 30d, 1h30m)"
        )
    units = ("y", "w", "d", "h", "m", "s", "ms")
    return sum(int(n) * _PROM_UNITS[u] for n, u in zip(m.groups(), units, strict=True) if n)


def _go_ms(value: str) -> float:
    parts = _GO_RE.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ValueError(
            f"{shorten(value)} is not a Collector duration: units h, m, s, ms, us, ns "
            "(no d, w or y: write 30 days as 720h)"
        )
    return sum(float(n) * _GO_UNITS[u] for n, u in parts) / 1e6


_PROM_SHOW = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))
_GO_SHOW = _PROM_SHOW[1:]  # Go durations have no d: the bounds are shown as the field takes them


def _show(ms: float, units: tuple[tuple[str, int], ...]) -> str:
    for unit, size in units:
        if ms >= size and ms % size == 0:
            return f"{ms // size:.0f}{unit}"
    return f"{ms:g}ms"


def _duration(
    parse: Callable[[str], float], lo_ms: float, hi_ms: float, units: tuple[tuple[str, int], ...]
) -> AfterValidator:
    def check(value: str) -> str:
        ms = parse(value)
        if not lo_ms <= ms <= hi_ms:
            lo, hi = _show(lo_ms, units), _show(hi_ms, units)
            raise ValueError(f"{shorten(value)} is out of range: use {lo} to {hi}")
        return value

    return AfterValidator(check)


def prom_duration(lo_ms: float, hi_ms: float) -> AfterValidator:
    """A duration Prometheus reads (30d, 1h30m), within ``[lo_ms, hi_ms]``."""
    return _duration(prometheus_ms, lo_ms, hi_ms, _PROM_SHOW)


def go_duration(lo_ms: float, hi_ms: float) -> AfterValidator:
    """A duration the Collector reads (Go syntax: 720h, 1m30s, 200ms), within the bounds."""
    return _duration(_go_ms, lo_ms, hi_ms, _GO_SHOW)


MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000

_SIZE_RE = re.compile(r"^([0-9]+)(B|KB|MB|GB|TB|PB|EB)$")
_SIZE_UNITS = {u: 1 << (10 * i) for i, u in enumerate(("B", "KB", "MB", "GB", "TB", "PB", "EB"))}


def _storage_size(value: str) -> str:
    if _SIZE_RE.fullmatch(value) is None:
        raise ValueError(
            f"{shorten(value)} is not a size: a whole number and B, KB, MB, GB, TB, PB or EB"
        )
    size = storage_bytes(value)
    if not 1024**2 <= size < 2**63:
        raise ValueError(
            f"{shorten(value)} is out of range: use 1MB to 8EB (leave it out for no limit)"
        )
    return value


StorageSize = Annotated[StrictStr, AfterValidator(_storage_size)]


def storage_bytes(value: str) -> int:
    """A valid StorageSize in bytes (Prometheus' units are powers of 1024)."""
    m = _SIZE_RE.fullmatch(value)
    assert m is not None, value
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


_VOLUME_UNITS = {"Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}


def volume_bytes(value: str) -> int:
    """A valid VolumeSize in bytes."""
    return int(value[:-2]) * _VOLUME_UNITS[value[-2:]]


def _volume_size(value: str) -> str:
    m = re.fullmatch(r"([0-9]+)(Mi|Gi|Ti)", value)
    if m is None or not 1 <= int(m.group(1)) <= 1_000_000:
        raise ValueError(
            f"{shorten(value)} is not a volume size: 1 to 1000000 and Mi, Gi or Ti (e.g. 20Gi)"
        )
    return value


VolumeSize = Annotated[StrictStr, AfterValidator(_volume_size)]


# --- addresses and URLs -----------------------------------------------------------------------

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# RFC 3986 characters, minus the ones no config file here should carry unquoted in a URL
# (quotes, $, ;, #, spaces). Patterns are ASCII throughout: Go reads no other digits.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?\[\]@!&()*+,=%]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_CHARS = re.compile(r"^(/[A-Za-z0-9\-._~%!*+,=@:]*)*$")


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address, normalized (``999.999.1.1`` is not one)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{shorten(value)} is not an IP address (e.g. 127.0.0.1 or ::1)") from None


def url(value: str, *, path: bool = True, query: bool = False) -> str:
    """An http(s) URL with a valid host and port, no credentials, no fragment.

    ``path`` allows a path after the host; ``query`` allows a query string.
    """
    if not _URL_CHARS.fullmatch(value):
        bad = sorted({c for c in value if not _URL_CHARS.fullmatch(c)})
        raise ValueError(
            f"{shorten(value)} is not a URL: it holds {''.join(bad)!r} "
            "(percent-encode it, e.g. %20)"
        )
    if _BAD_ESCAPE.search(value):
        raise ValueError(f"{shorten(value)} is not a URL: '%' must start an escape such as %20")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"{shorten(value)} is not a URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{shorten(value)} must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError(
            f"{shorten(value)} holds credentials (user:password@): keep them out of URLs; use "
            "basic_auth or bearer_token_env, which read them from environment variables"
        )
    host = parts.hostname or ""
    if not (_HOST_RE.fullmatch(host) or _is_ip(host)):
        raise ValueError(f"{shorten(value)} has no valid host name")
    if port == 0 or parts.netloc.endswith(":"):
        raise ValueError(f"{shorten(value)} has no valid port")
    if parts.fragment or value.endswith("#"):
        raise ValueError(f"{shorten(value)}: a URL here cannot have a #fragment")
    if (parts.query or "?" in value) and not query:
        raise ValueError(f"{shorten(value)}: a URL here cannot have a ?query")
    if parts.path not in ("", "/") and not path:
        raise ValueError(f"{shorten(value)}: give only scheme, host and port (no path)")
    if not _PATH_CHARS.fullmatch(parts.path):
        raise ValueError(f"{shorten(value)} has characters its path cannot hold")
    return value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def http_url(*, path: bool = True, query: bool = False) -> AfterValidator:
    """A check for an http(s) URL (see :func:`url`)."""
    return AfterValidator(lambda v: url(v, path=path, query=query))


Url = Annotated[StrictStr, Field(max_length=2048), http_url(path=True)]
UrlWithQuery = Annotated[StrictStr, Field(max_length=2048), http_url(path=True, query=True)]
BaseUrl = Annotated[StrictStr, Field(max_length=2048), http_url(path=False)]


# --- HTTP headers and basic auth --------------------------------------------------------------

# Headers Prometheus refuses in remote_write (they are its own to set); Authorization has a
# message of its own: credentials belong in basic_auth or bearer_token_env.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-encoding",
        "content-length",
        "content-type",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "www-authenticate",
        "accept-encoding",
        "x-prometheus-remote-write-version",
        "x-prometheus-remote-read-version",
    }
)


def header_name(value: str) -> str:
    """An HTTP header name Prometheus will send."""
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}", value):
        raise ValueError(f"{shorten(value)} is not an HTTP header name (letters, digits and -)")
    if value.lower() == "authorization":
        raise ValueError("put credentials in basic_auth or bearer_token_env, not headers")
    if value.lower() in RESERVED_HEADERS:
        raise ValueError(f"{shorten(value)} is set by Prometheus itself and cannot be overridden")
    return value


def header_value(value: str) -> str:
    """A header value: printable ASCII on one line, no leading or trailing space."""
    if not re.fullmatch(r"[\x21-\x7e]([\x20-\x7e]{0,1022}[\x21-\x7e])?", value):
        raise ValueError(
            f"{shorten(value)} is not a header value: printable ASCII on one line, "
            "1 to 1024 characters"
        )
    return value


HeaderName = Annotated[StrictStr, AfterValidator(header_name)]
HeaderValue = Annotated[StrictStr, AfterValidator(header_value)]
UserName = Annotated[
    StrictStr,
    matching(r"[\x21-\x39\x3b-\x7e]{1,256}", "a user name (printable ASCII, no spaces and no ':')"),
]
# Nothing an INI file or Grafana's $__env{} / $__file{} expansion would read as syntax.
LoginName = Annotated[
    StrictStr,
    matching(
        r"[A-Za-z0-9][A-Za-z0-9._@+\-]{0,63}",
        "a login name (letters, digits and . _ @ + -, at most 64; an e-mail address works)",
    ),
]


# --- container images -------------------------------------------------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?"
)
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"^{_NAME}(?::{_TAG})?(?:@{_DIGEST})?$")
REGISTRY_RE = re.compile(rf"^{_DOMAIN}(?:/{_COMPONENT})*$")


def image_reference(value: str) -> str:
    """A container image reference Docker and Kubernetes accept (name[:tag][@digest])."""
    if len(value) > 255 or not IMAGE_RE.fullmatch(value):
        raise ValueError(
            f"{shorten(value)} is not an image reference: [registry/]name[:tag][@sha256:digest], "
            "lower-case name (e.g. prom/prometheus:v3.16.0)"
        )
    return value


def registry(value: str) -> str:
    """A registry host, with an optional port and path, that prefixes every image."""
    if len(value) > 200 or not REGISTRY_RE.fullmatch(value):
        raise ValueError(
            f"{shorten(value)} is not a registry: host[:port][/path], lower-case path "
            "(e.g. registry.example.com/mirror)"
        )
    return value


ImageRef = Annotated[StrictStr, AfterValidator(image_reference)]
Registry = Annotated[StrictStr, AfterValidator(registry)]
IpAddress = Annotated[StrictStr, AfterValidator(ip_address)]


# Kubernetes label keys ([prefix/]name) and values, as the API server accepts them.
KubeLabelKey = Annotated[
    StrictStr,
    matching(
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
        "a Kubernetes label key ([prefix/]name)",
    ),
]
KubeLabelValue = Annotated[
    StrictStr,
    matching(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", "a Kubernetes label value"),
]


def cidr(value: str) -> str:
    """A network in CIDR form, normalised (10.1.2.3/8 becomes 10.0.0.0/8)."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{shorten(value)} is not a network in CIDR form (10.0.0.0/8)") from None


Cidr = Annotated[StrictStr, AfterValidator(cidr)]
