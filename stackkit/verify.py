"""`stackkit verify`: send a synthetic data point as Claude Code would, then find it in Prometheus.

Uses the developer's current environment (the OTEL_* variables `stackkit env` sets), so it
proves exactly what Claude Code in this shell would experience, and names the step that fails.
"""

from __future__ import annotations

import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import StackkitError
from .local_http import urlopen
from .prom_client import Fetch, PrometheusError, query
from .tokens import header_token_problem

METRIC = "stackkit.verify"
PROM_METRIC = "stackkit_verify_total"


class VerifyError(StackkitError):
    """One step of the check failed; the message says which and what to do."""


@dataclass(frozen=True)
class ClientEnv:
    """What Claude Code would read from this environment."""

    protocol: str
    endpoint: str
    headers: dict[str, str]
    ca_file: str | None = None


def client_env(environ: Mapping[str, str]) -> ClientEnv:
    """Read and check the variables; raise VerifyError naming the first problem."""
    if environ.get("CLAUDE_CODE_ENABLE_TELEMETRY") != "1":
        raise VerifyError(
            "step 1/4 (environment): CLAUDE_CODE_ENABLE_TELEMETRY is not 1 in this shell, so "
            'Claude Code sends nothing. Run: eval "$(stackkit env)"'
        )
    exporters = environ.get("OTEL_METRICS_EXPORTER", "")
    if "otlp" not in exporters.split(","):
        raise VerifyError(
            f"step 1/4 (environment): OTEL_METRICS_EXPORTER is {exporters!r}, not otlp"
        )
    protocol = environ.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    if protocol not in ("grpc", "http/protobuf", "http/json"):
        raise VerifyError(
            f"step 1/4 (environment): OTEL_EXPORTER_OTLP_PROTOCOL is {protocol!r}; Claude Code "
            "needs grpc, http/protobuf or http/json"
        )
    endpoint = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or ""
    if not endpoint:
        base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
        if not base:
            raise VerifyError("step 1/4 (environment): OTEL_EXPORTER_OTLP_ENDPOINT is not set")
        endpoint = base if protocol == "grpc" else f"{base.rstrip('/')}/v1/metrics"
    _check_endpoint(endpoint, protocol)
    raw = environ.get("OTEL_EXPORTER_OTLP_METRICS_HEADERS") or environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    if problem := header_token_problem(raw):
        raise VerifyError(
            f"step 1/4 (environment): OTEL_EXPORTER_OTLP_HEADERS cannot carry the token: "
            f"{problem}. Claude Code would send another token and every request would be "
            "refused (401). Set the token variable (collector.auth.token_env, "
            "STACKKIT_OTLP_TOKEN by default) to such a token or unset it (stackkit then "
            'generates one), run `stackkit up`, then: eval "$(stackkit env)"'
        )
    headers = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = item.partition("=")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    if any(not (k + v).isprintable() or not k for k, v in headers.items()):
        raise VerifyError(
            "step 1/4 (environment): OTEL_EXPORTER_OTLP_HEADERS holds an empty name or control "
            'characters; Claude Code cannot send it. Run: eval "$(stackkit env)"'
        )
    # Claude Code trusts these for a private CA: gRPC the OTLP variable, HTTP Node's.
    ca_var = "OTEL_EXPORTER_OTLP_CERTIFICATE" if protocol == "grpc" else "NODE_EXTRA_CA_CERTS"
    ca_file = environ.get(ca_var) or None
    if ca_file is not None and not os.access(ca_file, os.R_OK):
        raise VerifyError(
            f"step 1/4 (environment): {ca_var}={ca_file} is not a readable file; Claude Code "
            "cannot trust the Collector's certificate without it"
        )
    return ClientEnv(protocol, endpoint, headers, ca_file)


def _check_endpoint(endpoint: str, protocol: str) -> None:
    """VerifyError unless ``endpoint`` is a URL with a host (and a numeric port, if any)."""
    try:
        url = urlparse(endpoint if "://" in endpoint or protocol != "grpc" else f"//{endpoint}")
        url.port  # noqa: B018 - raises ValueError for a port that is not one
        ok = bool(url.hostname) and url.scheme in ("http", "https", "")
        ok = ok and (url.scheme != "" or protocol == "grpc")
    except ValueError:
        ok = False
    if not ok or not endpoint.isprintable():
        raise VerifyError(
            f"step 1/4 (environment): the OTLP endpoint {endpoint!r} is not a URL such as "
            'http://localhost:4317. Run: eval "$(stackkit env)"'
        )


def _request(verify_id: str) -> bytes:
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc
    from opentelemetry.proto.common.v1 import common_pb2 as common
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
    from opentelemetry.proto.resource.v1 import resource_pb2 as res

    now = time.time_ns()
    point = m.NumberDataPoint(
        start_time_unix_nano=now - 1_000_000_000,
        time_unix_nano=now,
        as_double=1.0,
        attributes=[
            common.KeyValue(key="verify.id", value=common.AnyValue(string_value=verify_id))
        ],
    )
    metric = m.Metric(
        name=METRIC,
        description="A synthetic point sent by `stackkit verify`.",
        sum=m.Sum(
            data_points=[point],
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_CUMULATIVE,
            is_monotonic=True,
        ),
    )
    resource = res.Resource(
        attributes=[
            common.KeyValue(
                key="service.name", value=common.AnyValue(string_value="stackkit-verify")
            )
        ]
    )
    request = svc.ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource=resource,
                scope_metrics=[
                    m.ScopeMetrics(
                        scope=common.InstrumentationScope(name="stackkit"), metrics=[metric]
                    )
                ],
            )
        ]
    )
    return request.SerializeToString()


def send(client: ClientEnv, verify_id: str, timeout: float = 10.0) -> None:
    """Send the point; raise VerifyError describing a refusal or an unreachable endpoint."""
    body = _request(verify_id)
    if client.protocol == "grpc":
        _send_grpc(client, body, timeout)
        return
    if client.protocol == "http/json":
        from google.protobuf import json_format
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as svc

        message = svc.ExportMetricsServiceRequest()
        message.ParseFromString(body)
        body = json_format.MessageToJson(message).encode()
        content_type = "application/json"
    else:
        content_type = "application/x-protobuf"
    req = urllib.request.Request(client.endpoint, data=body, method="POST")
    req.add_header("Content-Type", content_type)
    for k, v in client.headers.items():
        req.add_header(k, v)
    try:
        context = ssl.create_default_context(cafile=client.ca_file) if client.ca_file else None
    except (OSError, ssl.SSLError) as e:
        raise VerifyError(
            f"step 2/4 (reach the Collector): the CA file is not usable ({e})"
        ) from None
    try:
        with urlopen(req, timeout=timeout, context=context):
            return
    except urllib.error.HTTPError as e:
        _refused(e.code, client)
    except OSError as e:
        if isinstance(getattr(e, "reason", e), ssl.SSLError):
            raise VerifyError(
                f"step 2/4 (reach the Collector): TLS with {client.endpoint} failed ({e}). "
                "For a private CA set NODE_EXTRA_CA_CERTS (config: collector.tls.ca_file)"
            ) from None
        raise VerifyError(
            f"step 2/4 (reach the Collector): {client.endpoint} did not answer ({e}). Is the stack "
            "up (`stackkit status`)?"
        ) from None


def _send_grpc(client: ClientEnv, body: bytes, timeout: float) -> None:
    import grpc

    url = urlparse(client.endpoint if "://" in client.endpoint else f"http://{client.endpoint}")
    target = f"{url.hostname}:{url.port or 4317}"
    if url.scheme == "https":
        try:
            roots = Path(client.ca_file).read_bytes() if client.ca_file else None
        except OSError as e:
            raise VerifyError(
                f"step 2/4 (reach the Collector): cannot read the CA file ({e.strerror or e})"
            ) from None
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots))
    else:
        channel = grpc.insecure_channel(target)
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        export(body, timeout=timeout, metadata=tuple(client.headers.items()))
    except grpc.RpcError as e:
        code = e.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            _refused(401, client)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise VerifyError(
                f"step 2/4 (reach the Collector): {target} did not answer ({code.name}). Is the "
                "stack up (`stackkit status`)?"
            ) from None
        raise VerifyError(f"step 3/4 (Collector accepts): refused with {code.name}") from None
    finally:
        channel.close()


def _refused(status: int, client: ClientEnv) -> None:
    if status in (401, 403):
        has = "authorization" in client.headers
        raise VerifyError(
            "step 3/4 (Collector accepts): the Collector refused the token (HTTP "
            f"{status}); "
            f"{'the token is wrong or stale' if has else 'no Authorization header is set'}. "
            'Claude Code loses such data silently. Run: eval "$(stackkit env)"'
        )
    raise VerifyError(f"step 3/4 (Collector accepts): the Collector answered HTTP {status}")


def verify(
    environ: Mapping[str, str],
    prometheus_url: str | Fetch,
    progress: Callable[[str], None],
    timeout: float = 90.0,
) -> float:
    """Run every step; returns seconds until the point was visible in Prometheus."""
    client = client_env(environ)
    progress(f"step 1/4 ok: telemetry on, {client.protocol} to {client.endpoint}")
    verify_id = secrets.token_hex(6)
    start = time.monotonic()
    send(client, verify_id)
    progress("step 2/4 ok: the Collector answered")
    progress("step 3/4 ok: the Collector accepted the data point")
    promql = f'{PROM_METRIC}{{verify_id="{verify_id}"}}'
    while True:
        try:
            if query(prometheus_url, promql):
                took = time.monotonic() - start
                progress(f"step 4/4 ok: Prometheus has it after {took:.1f}s")
                return took
        except PrometheusError as e:
            raise VerifyError(f"step 4/4 (Prometheus has it): {e}") from None
        if time.monotonic() - start > timeout:
            raise VerifyError(
                f"step 4/4 (Prometheus has it): {promql} did not appear within {timeout:.0f}s. "
                "The Collector accepted it: check that Prometheus scrapes it (`stackkit status`)"
            )
        time.sleep(1.0)
