"""Pinned versions: the only place to bump an image, a tool or an SDK.

Every image users run, every tool the tests build and every Pulumi SDK/engine pairing is named
here once. Shell scripts read this file by running it: ``python3 stackkit/versions.py`` prints
``NAME=value`` lines that ``eval`` accepts.
"""

from __future__ import annotations

# Components of the stack (the images users run; the tests build the same names locally).
OTELCOL_VERSION = "0.161.0"
PROMETHEUS_VERSION = "3.16.0"
GRAFANA_VERSION = "12.3.0"
# Go module github.com/prometheus/alertmanager v0.X.Y is release 0.X.Y (no v0.3XX mapping).
ALERTMANAGER_VERSION = "0.35.0"

IMAGES: dict[str, str] = {
    "otelcol": f"otel/opentelemetry-collector-contrib:{OTELCOL_VERSION}",
    "prometheus": f"prom/prometheus:v{PROMETHEUS_VERSION}",
    "grafana": f"grafana/grafana:{GRAFANA_VERSION}",
    "alertmanager": f"prom/alertmanager:v{ALERTMANAGER_VERSION}",
}

# Prometheus feature flag that turns OpenMetrics created timestamps into a zero sample, so a
# counter that first appears inside a query window is counted from zero by increase().
PROMETHEUS_CT_FEATURE = "created-timestamp-zero-ingestion"

# The Pulumi engine must match the Python SDK pinned in pyproject.toml.
PULUMI_VERSION = "3.260.0"
PULUMI_DOCKER_VERSION = "5.2.0"

# The Kubernetes provider plugin and the PyPI SDK `pulumi-kubernetes` share this version. The
# provider/v4 Go module has no tags; the Go proxy serves it only at the pseudo-version below:
# master commit f47bc2d6f199 (2026-01-15), the dev build PyPI has as 4.25.0a1768448096. It is two
# commits before the 4.25.0 release, and its Python SDK is identical to 4.25.0's but for the version
# string, so tools/build-pulumi-kubernetes.sh builds it stamped 4.25.0.
PULUMI_KUBERNETES_VERSION = "4.25.0"
PULUMI_KUBERNETES_PROVIDER_GO_VERSION = "v4.0.0-20260115033456-f47bc2d6f199"

# The package manager `make install` uses (tools/install-uv.sh installs it into the tool cache).
UV_VERSION = "0.13.9"

# Test-only tools (built offline by tools/build-*.sh into a versioned cache).
ETCD_VERSION = "3.6.16"
KUBERNETES_VERSION = "1.34.4"
COREDNS_VERSION = "1.15.0"
CLAUDE_CODE_VERSION = "2.1.332"
# Prometheus Operator (operator, prometheus-config-reloader and its CRDs): the newest release whose
# three Go modules (the root, pkg/apis/monitoring, pkg/client) the module proxy all serves here
# (v0.95.x is refused; pkg/client v0.94.x is not served).
PROMETHEUS_OPERATOR_VERSION = "0.93.1"
# Thanos (receive + query): the horizontally scalable remote-write backend the tests prove. The
# VictoriaMetrics cluster flavour (v1.X.Y-cluster tags) is not served by the Go module proxy here;
# Thanos 0.42.5 needs go >= 1.26.10, so 0.42.4.
THANOS_VERSION = "0.42.4"


def shell_assignments() -> str:
    """Return every upper-case pin as ``NAME=value`` lines for shell scripts."""
    return "".join(
        f"{name}={value}\n"
        for name, value in sorted(globals().items())
        if name.isupper() and isinstance(value, str)
    )


if __name__ == "__main__":
    print(shell_assignments(), end="")
