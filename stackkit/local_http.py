"""HTTP from this machine to the stack: a loopback address never goes through a proxy.

Companies set ``http_proxy`` / ``https_proxy`` in developers' shells. urllib sends every request
through them unless ``no_proxy`` names the host, and no proxy reaches this machine's loopback, so
`up` would wait for a stack that answers, and `status` and `verify` would call it down. Claude
Code's own OTLP exporter sends to the endpoint directly. Other hosts keep the proxy settings.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.parse
import urllib.request
from typing import Any

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def urlopen(
    request: str | urllib.request.Request,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Any:
    """``urllib.request.urlopen``, without a proxy for a loopback address."""
    url = request if isinstance(request, str) else request.full_url
    loopback = is_loopback(url)
    if loopback and context is None:
        return _DIRECT.open(request, timeout=timeout)
    # Built per request: ``urllib.request.urlopen`` would build one global opener on first use and
    # keep the proxy settings of that moment for the life of the process.
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler({} if loopback else None)
    ]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)
