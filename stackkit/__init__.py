"""stackkit: a Claude Code monitoring stack (OpenTelemetry Collector, Prometheus, Grafana)."""

__version__ = "0.1.0"
