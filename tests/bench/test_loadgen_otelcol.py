"""The generator against the real Collector: what it counts as accepted is what the Collector's
own receiver counters say it accepted (``otelcol_receiver_accepted_metric_points`` and
``..._log_records``, per transport), with the bearer-token authenticator of the stack in front.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.bench.conftest import run_loadgen
from tests.fixtures import free_port
from tests.fixtures.otlp_sink import OtlpSink

TOKEN = "collector-test-token"


def collector_config(grpc: int, http: int, health: int, telemetry: int, sink: str) -> str:
    auth = {"auth": {"authenticator": "bearertokenauth"}}
    exporter = {
        "endpoint": sink,
        "compression": "none",
        "retry_on_failure": {"enabled": False},
        "sending_queue": {"enabled": False},
    }
    return yaml.safe_dump(
        {
            "extensions": {
                "health_check": {"endpoint": f"127.0.0.1:{health}"},
                "bearertokenauth": {"token": "${env:LOADGEN_TEST_TOKEN}"},
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{grpc}", **auth},
                        "http": {"endpoint": f"127.0.0.1:{http}", **auth},
                    }
                }
            },
            "exporters": {"otlphttp": exporter},
            "service": {
                "extensions": ["health_check", "bearertokenauth"],
                "telemetry": {
                    "logs": {"level": "warn"},
                    "metrics": {
                        "level": "basic",
                        "readers": [
                            {
                                "pull": {
                                    "exporter": {
                                        "prometheus": {"host": "127.0.0.1", "port": telemetry}
                                    }
                                }
                            }
                        ],
                    },
                },
                "pipelines": {
                    "metrics": {"receivers": ["otlp"], "exporters": ["otlphttp"]},
                    "logs": {"receivers": ["otlp"], "exporters": ["otlphttp"]},
                },
            },
        },
        sort_keys=False,
    )


def receiver_counts(url: str) -> dict[tuple[str, str], float]:
    """{(metric points|log records, transport): accepted} from the Collector's /metrics."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out: dict[tuple[str, str], float] = {}
    pattern = re.compile(
        r"^otelcol_receiver_accepted_(metric_points|log_records)[a-z_]*\{([^}]*)\} (\S+)$"
    )
    for line in text.splitlines():
        m = pattern.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        key = (m.group(1), labels.get("transport", "?"))
        out[key] = out.get(key, 0.0) + float(m.group(3))
    return out


def test_accepted_counts_match_the_collector(
    loadgen_bin: Path, otelcol_process: Any, tmp_path: Path
) -> None:
    grpc, http, health, telemetry = (free_port() for _ in range(4))
    with OtlpSink() as downstream:
        otelcol_process(
            collector_config(grpc, http, health, telemetry, downstream.endpoint),
            health_url=f"http://127.0.0.1:{health}/",
            env={"LOADGEN_TEST_TOKEN": TOKEN},
        )
        run = run_loadgen(
            loadgen_bin,
            ["-grpc-endpoint", f"127.0.0.1:{grpc}", "-http-endpoint", f"http://127.0.0.1:{http}",
             "-token", TOKEN, "-developers", "20", "-duration", "3s", "-interval", "300ms",
             "-logs-interval", "50ms", "-session-min", "2", "-session-max", "4", "-think-max",
             "0.5", "-cumulative-share", "0.3"],
            tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        summary = run.summary
        assert summary is not None
        want = {}
        for signal, kind in (("metrics", "metric_points"), ("logs", "log_records")):
            for proto in ("grpc", "http"):
                r = summary["requests"][signal][proto]
                assert r["refused"] == 0 and r["items_accepted"] > 0, (signal, proto, r)
                want[(kind, proto)] = float(r["items_accepted"])
        got = receiver_counts(f"http://127.0.0.1:{telemetry}/metrics")
        assert got == want
