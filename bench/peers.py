"""Public Collector setups for Claude Code that teams copy, described as their authors publish
them, for bench/load.py to run on the same load as stackkit's stack.

Both push OTLP into a Collector whose Prometheus exporter Prometheus scrapes. Each keeps its own
Collector settings, scrape interval and the client temporality its guide prescribes. Only what
our test Collector build cannot run is left out, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Peer:
    label: str
    source: str
    config: dict[str, Any]
    exporter_port: int
    scrape_interval: str
    cumulative_share: float
    """Share of clients exporting cumulative sums, as the guide tells them to."""
    note: str = ""

    @property
    def collector_config(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False)


def _otlp() -> dict[str, Any]:
    return {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": "0.0.0.0:4317"},
                "http": {"endpoint": "0.0.0.0:4318"},
            }
        }
    }


PEERS = (
    Peer(
        label="peer: Anthropic monitoring guide",
        source="github.com/anthropics/claude-code-monitoring-guide (otel-collector-config.yaml, "
        "prometheus.yml)",
        config={
            "receivers": _otlp(),
            "processors": {
                "batch": {"timeout": "1s", "send_batch_size": 1024},
                "memory_limiter": {"check_interval": "1s", "limit_mib": 512},
            },
            "exporters": {
                "prometheus": {
                    "endpoint": "0.0.0.0:8889",
                    "send_timestamps": True,
                    "metric_expiration": "180m",
                    "enable_open_metrics": True,
                }
            },
            "service": {
                "pipelines": {
                    "metrics": {
                        "receivers": ["otlp"],
                        "processors": ["memory_limiter", "batch"],
                        "exporters": ["prometheus"],
                    }
                }
            },
        },
        exporter_port=8889,
        scrape_interval="15s",
        cumulative_share=0.0,  # the guide sets no temporality: Claude Code's default, delta
        note="its debug exporter (sampled console output) is left out: not in our build",
    ),
    Peer(
        label="peer: Grafana dashboard 25255",
        source="github.com/rockdarko/claude-code-metrics-prometheus (otel-collector-config.yaml, "
        "prometheus-scrape.yaml)",
        config={
            "receivers": _otlp(),
            "processors": {
                "batch/metrics": {
                    "timeout": "5s",
                    "send_batch_size": 128,
                    "send_batch_max_size": 256,
                }
            },
            "exporters": {
                "prometheus": {
                    "endpoint": "0.0.0.0:9464",
                    "resource_to_telemetry_conversion": {"enabled": True},
                    "send_timestamps": True,
                }
            },
            "service": {
                "pipelines": {
                    "metrics": {
                        "receivers": ["otlp"],
                        "processors": ["batch/metrics"],
                        "exporters": ["prometheus"],
                    }
                }
            },
        },
        exporter_port=9464,
        scrape_interval="30s",
        cumulative_share=1.0,  # its README pins cumulative
    ),
)
