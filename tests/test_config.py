"""The config model: defaults, precedence, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from stackkit.config import StackConfig, json_schema, load_config
from stackkit.errors import ConfigError
from stackkit.model import prometheus_args
from stackkit.starter import STARTER


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stackkit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.exit_code == 2
    return info.value.problems


def test_no_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg == StackConfig()
    assert (cfg.target, cfg.collector.grpc.port, cfg.collector.auth.enabled) == (
        "docker",
        4317,
        True,
    )


def test_stackkit_yaml_in_the_current_directory_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "name: team-a\n")
    monkeypatch.chdir(tmp_path)
    assert load_config().name == "team-a"


def test_flag_beats_file_beats_default(tmp_path: Path) -> None:
    path = write(tmp_path, "target: kubernetes\nname: from-file\n")
    assert load_config(path).target == "kubernetes"
    assert load_config(path, target="docker").target == "docker"
    assert load_config(path, target=None).target == "kubernetes"


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    lines = problems(tmp_path, "collector:\n  grpc:\n    prot: 4317\n")
    assert lines == [
        "collector.grpc.prot: unknown key (check the spelling; `stackkit schema` lists every key)"
    ]


def test_every_problem_is_reported_once(tmp_path: Path) -> None:
    lines = problems(
        tmp_path,
        "collector: {http: {port: 70000}}\nprometheus: {retention_time: forever}\ntarget: aws\n",
    )
    assert len(lines) == 3
    by_field = {line.split(": ", 1)[0]: line for line in lines}
    assert set(by_field) == {"collector.http.port", "prometheus.retention_time", "target"}
    assert "65535" in by_field["collector.http.port"]
    assert "'forever' is not a Prometheus duration" in by_field["prometheus.retention_time"]


def test_wrong_type(tmp_path: Path) -> None:
    assert problems(tmp_path, "collector: {memory_limit_mib: lots}\n") == [
        "collector.memory_limit_mib: Input should be a valid integer (got 'lots')"
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("collector: {grpc: {port: true}}", "collector.grpc.port"),
        ("collector: {grpc: {port: '4317'}}", "collector.grpc.port"),
        ("collector: {grpc: {port: 4317.0}}", "collector.grpc.port"),
        ("collector: {grpc: {enabled: 'yes'}}", "collector.grpc.enabled"),
        ("collector: {memory_limit_mib: true}", "collector.memory_limit_mib"),
        ("alerts: {user_spend_usd_per_hour: '20'}", "alerts.user_spend_usd_per_hour"),
        ("alerts: {user_spend_usd_per_hour: true}", "alerts.user_spend_usd_per_hour"),
        ("grafana: {anonymous_access: 1}", "grafana.anonymous_access"),
        ("name: 123", "name"),
        ("prometheus: {retention_time: 30}", "prometheus.retention_time"),
    ],
)
def test_types_are_strict(tmp_path: Path, text: str, field: str) -> None:
    (line,) = problems(tmp_path, text + "\n")
    assert line.startswith(f"{field}: Input should be a valid")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "collector: {http: {port: 4317}}",
            "collector.grpc.port and collector.http.port are both 4317: every port must differ",
        ),
        ("prometheus: {port: 4317}", "collector.grpc.port and prometheus.port are both 4317"),
        ("grafana: {port: 4318}", "collector.http.port and grafana.port are both 4318"),
        ("grafana: {port: 8889}", "collector.metrics_port and grafana.port are both 8889"),
        ("prometheus: {port: 13133}", "collector.health_port and prometheus.port are both"),
        ("grafana: {port: 9090}", "prometheus.port and grafana.port are both 9090"),
        (
            "prometheus: {port: 3000}\ncollector: {telemetry_port: 3000}",
            "collector.telemetry_port and prometheus.port and grafana.port are all 3000",
        ),
    ],
)
def test_every_port_differs(tmp_path: Path, text: str, message: str) -> None:
    (line,) = problems(tmp_path, text + "\n")
    assert line.startswith(message)


def test_ports_below_1024_need_privileges_the_images_lack(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, "grafana: {port: 80}\n")
    assert line == "grafana.port: Input should be greater than or equal to 1024"


@pytest.mark.parametrize("value", ["30d", "1w", "1y", "24hours", "1h30", "-5m", "1d12h", ""])
def test_collector_durations_are_go_durations(tmp_path: Path, value: str) -> None:
    (line,) = problems(tmp_path, f"collector: {{metric_expiration: '{value}'}}\n")
    assert "is not a Collector duration" in line and "720h" in line


@pytest.mark.parametrize("value", ["720h", "1h30m", "1.5h", "90m", "3600s", "1h1h"])
def test_collector_durations_in_go_syntax_are_fine(value: str) -> None:
    cfg = StackConfig.model_validate({"collector": {"metric_expiration": value}})
    assert cfg.collector.metric_expiration == value


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retention_time", "0s", "out of range: use 1h to"),
        ("retention_time", "1h1h", "is not a Prometheus duration"),
        ("retention_time", "5m1h", "largest first, each at most once"),
        ("retention_time", "1.5h", "is not a Prometheus duration"),
        ("retention_time", "200y", "out of range"),
        ("retention_time", "٣d", "is not a Prometheus duration"),  # non-ASCII digit
        ("scrape_interval", "0s", "out of range: use 1s to 2m"),
        ("scrape_interval", "5m", "out of range: use 1s to 2m"),
        ("evaluation_interval", "1h", "out of range"),
    ],
)
def test_prometheus_durations(tmp_path: Path, field: str, value: str, message: str) -> None:
    (line,) = problems(tmp_path, f"prometheus: {{{field}: '{value}'}}\n")
    assert line.startswith(f"prometheus.{field}: ") and message in line


def test_prometheus_durations_keep_their_units() -> None:
    cfg = StackConfig.model_validate({"prometheus": {"retention_time": "1y2w3d"}})
    assert cfg.prometheus.retention_time == "1y2w3d"


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e300", "0", "-5", "0.001"])
def test_thresholds_are_finite_and_sensible(tmp_path: Path, value: str) -> None:
    (line,) = problems(tmp_path, f"alerts: {{team_spend_usd_per_hour: {value}}}\n")
    assert line.startswith("alerts.team_spend_usd_per_hour: Input should be")


@pytest.mark.parametrize(
    "text",
    [
        "collector: {memory_limit_mib: 100000000}",
        "collector: {batch: {send_batch_size: 1000000000, send_batch_max_size: 1000000000}}",
        "collector: {batch: {timeout: 0s}}",
        "collector: {batch: {timeout: 2h}}",
        "collector: {metric_expiration: 1s}",
        "prometheus: {retention_size: 0GB}",
        "prometheus: {retention_size: 99999999999EB}",
        "prometheus: {retention_size: 1 GB}",
        "kubernetes: {prometheus_storage: 0Gi}",
        "kubernetes: {grafana_storage: 99999999999Ti}",
        "alerts: {no_telemetry_minutes: 100000000}",
        "client: {metric_export_interval_ms: 99999999999}",
        "attributes: {labels: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]}",
    ],
)
def test_absurd_sizes_and_counts(tmp_path: Path, text: str) -> None:
    assert problems(tmp_path, text + "\n")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("[team.id, team_id]", "'team.id' and 'team_id' both become the label 'team_id'"),
        ("[cost-center, cost_center]", "both become the label 'cost_center'"),
        ("[__name__]", "'__name__' would become the label '__name__'"),
        ("[__meta.x]", "would become the label '__meta_x'"),
        ("[session.id]", "would become the label 'session_id', which the stack already uses"),
        ("[user.id]", "'user_id'"),
        ("[model]", "'model'"),
        ("[type]", "'type'"),
        ("[job]", "'job'"),
        ("[instance]", "'instance'"),
        ("[le]", "'le'"),
        ("[severity]", "'severity'"),
        ("['team id']", "is not an attribute key"),
        # labels the pipeline itself writes (issue 17)
        ("[otelcol.instance]", "'otelcol_instance', which the stack already uses"),
        ("[process.start]", "'process_start', which the stack already uses"),
        ("[team.id, otelcol-instance]", "'otelcol_instance'"),
    ],
)
def test_labels_map_to_distinct_free_prometheus_labels(
    tmp_path: Path, labels: str, message: str
) -> None:
    (line,) = problems(tmp_path, f"attributes: {{labels: {labels}}}\n")
    assert line.startswith("attributes.labels") and message in line


@pytest.mark.parametrize("address", ["999.999.1.1", "localhost", "1.2.3", "::g", "127.0.0.1 "])
def test_bind_address_is_an_ip_address(tmp_path: Path, address: str) -> None:
    (line,) = problems(tmp_path, f"docker: {{bind_address: '{address}'}}\n")
    assert "is not an IP address" in line


def test_bind_address_is_normalized() -> None:
    cfg = StackConfig.model_validate({"docker": {"bind_address": "0:0::1"}})
    assert cfg.docker.bind_address == "::1"


def test_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: bogus: unknown key" in str(info.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "missing.yaml")
    assert problems(tmp_path, "a: [1\n")[0].startswith("line 2: not valid YAML")
    assert problems(tmp_path, "- a\n- b\n") == ["top level must be a mapping of keys to values"]


def test_tls_needs_both_files(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, "collector: {tls: {cert_file: a.crt}}\n")
    assert line.endswith("set both cert_file and key_file, or neither")


def test_credentials_never_go_in_headers(tmp_path: Path) -> None:
    (line,) = problems(
        tmp_path,
        "prometheus:\n  remote_write:\n    - {name: m, url: 'https://m/x', headers: {Authorization: x}}\n",
    )
    assert "basic_auth or bearer_token_env" in line


def test_config_is_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        StackConfig().name = "x"  # type: ignore[misc]


def test_starter_file_is_valid_and_states_the_defaults() -> None:
    assert StackConfig.model_validate(yaml.safe_load(STARTER)) == StackConfig()


def test_json_schema_covers_every_section() -> None:
    schema = json_schema()
    assert set(schema["properties"]) == set(StackConfig.model_fields)
    assert schema["additionalProperties"] is False


# Free text that reaches an INI, YAML or shell file: (yaml, field, part of the message).
HOSTILE = [
    (
        'grafana: {admin_user: "admin\\n[security]\\nadmin_password = x"}',
        "grafana.admin_user",
        "is not a login name",
    ),
    ('grafana: {admin_user: "$__file{/etc/passwd}"}', "grafana.admin_user", "is not a login name"),
    ('grafana: {admin_user: "a;b"}', "grafana.admin_user", "is not a login name"),
    ("grafana: {admin_user: ''}", "grafana.admin_user", "is not a login name"),
    (
        'grafana: {root_url: "https://g.example.com/\\nadmin_user = x"}',
        "grafana.root_url",
        "is not a URL",
    ),
    (
        'grafana: {root_url: "https://g.example.com/$__env{HOME}"}',
        "grafana.root_url",
        "is not a URL",
    ),
    ('grafana: {root_url: "https://g.example.com/;x"}', "grafana.root_url", "is not a URL"),
    ('grafana: {root_url: "https://g.example.com/#x"}', "grafana.root_url", "is not a URL"),
    ('grafana: {root_url: "https://u:p@g.example.com/"}', "grafana.root_url", "holds credentials"),
    ('grafana: {root_url: "ftp://g.example.com/"}', "grafana.root_url", "must start with http"),
    (
        "prometheus: {alertmanager_url: 'http://am:9093\"'}",
        "prometheus.alertmanager_url",
        "is not a URL",
    ),
    (
        "prometheus: {alertmanager_url: 'http://user:pass@am:9093'}",
        "prometheus.alertmanager_url",
        "holds credentials",
    ),
    (
        "prometheus: {alertmanager_url: 'http://am:99999'}",
        "prometheus.alertmanager_url",
        "is not a URL",
    ),
    (
        "prometheus: {alertmanager_url: 'http://am:abc'}",
        "prometheus.alertmanager_url",
        "is not a URL",
    ),
    (
        "prometheus: {alertmanager_url: 'http://am:9093?x=1'}",
        "prometheus.alertmanager_url",
        "cannot have a ?query",
    ),
    (
        "prometheus: {alertmanager_url: 'http://am:9093/%zz'}",
        "prometheus.alertmanager_url",
        "must start an escape",
    ),
    (
        "prometheus: {alertmanager_url: 'http://-am-:9093'}",
        "prometheus.alertmanager_url",
        "no valid host",
    ),
    (
        "prometheus: {alertmanager_url: 'http://am:/'}",
        "prometheus.alertmanager_url",
        "no valid port",
    ),
    ("prometheus: {alertmanager_url: 'http://'}", "prometheus.alertmanager_url", "no valid host"),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://u:p@m/push'}]}",
        "prometheus.remote_write.0.url",
        "holds credentials",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/push x'}]}",
        "prometheus.remote_write.0.url",
        "is not a URL",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', headers: {X-A: \"a\\nb\"}}]}",
        "prometheus.remote_write.0.headers.X-A",
        "is not a header value",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', headers: {'X A': b}}]}",
        "prometheus.remote_write.0.headers.X A.[key]",
        "is not an HTTP header name",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', headers: {Host: b}}]}",
        "prometheus.remote_write.0.headers.Host.[key]",
        "set by Prometheus itself",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', headers: {x-a: b, X-A: c}}]}",
        "prometheus.remote_write.0",
        "given twice",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', basic_auth: {username: \"u\\nv\", password_env: P}}]}",
        "prometheus.remote_write.0.basic_auth.username",
        "is not a user name",
    ),
    (
        "prometheus: {remote_write: [{name: m, url: 'https://m/p', basic_auth: {username: 'u:v', password_env: P}}]}",
        "prometheus.remote_write.0.basic_auth.username",
        "no ':'",
    ),
    (
        "prometheus: {remote_write: [{name: M_1, url: 'https://m/p'}]}",
        "prometheus.remote_write.0.name",
        "is not a DNS label",
    ),
    (
        "client: {grpc_endpoint: 'https://otel.example.com:4317/v1'}",
        "client.grpc_endpoint",
        "no path",
    ),
    (
        "client: {grpc_endpoint: 'https://t:s@otel.example.com:4317'}",
        "client.grpc_endpoint",
        "holds credentials",
    ),
    (
        "client: {http_endpoint: \"https://otel.example.com/'$(id)'\"}",
        "client.http_endpoint",
        "is not a URL",
    ),
    (
        "client: {http_endpoint: 'otel.example.com:4318'}",
        "client.http_endpoint",
        "must start with http",
    ),
    (
        'client: {resource_attributes: {team.id: "a\\nb"}}',
        "client.resource_attributes.team.id",
        "control characters",
    ),
    ("kubernetes: {namespace: 'a b'}", "kubernetes.namespace", "is not a DNS label"),
    (
        "kubernetes: {storage_class: 'fast; rm -rf'}",
        "kubernetes.storage_class",
        "is not a DNS name",
    ),
    ('kubernetes: {context: "a\\nb"}', "kubernetes.context", "control characters"),
    (
        "images: {otelcol: 'otel/collector:1.0 --evil'}",
        "images.otelcol",
        "is not an image reference",
    ),
    ('images: {otelcol: "otel/collector:1.0\\nx"}', "images.otelcol", "is not an image reference"),
    (
        "images: {prometheus: 'Prom/Prometheus:v3'}",
        "images.prometheus",
        "is not an image reference",
    ),
    (
        "images: {grafana: 'grafana/grafana@sha256:abc'}",
        "images.grafana",
        "is not an image reference",
    ),
    ("images: {registry: 'registry.example.com/Mirror'}", "images.registry", "is not a registry"),
    ("images: {registry: 'https://registry.example.com'}", "images.registry", "is not a registry"),
    ("images: {registry: '::::'}", "images.registry", "is not a registry"),
    (
        'collector: {tls: {cert_file: "a\\0b", key_file: k}}',
        "collector.tls.cert_file",
        "control characters",
    ),
    (
        "collector: {auth: {token_env: 'A-B'}}",
        "collector.auth.token_env",
        "is not an environment variable name",
    ),
]


@pytest.mark.parametrize(("text", "field", "message"), HOSTILE, ids=[h[1] for h in HOSTILE])
def test_free_text_is_checked_for_the_file_it_reaches(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    lines = problems(tmp_path, text + "\n")
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{field}: ") and message in lines[0]
    assert "\n" not in lines[0]


@pytest.mark.parametrize(
    "text",
    [
        "grafana: {admin_user: ops.admin+stackkit@example.com, root_url: 'https://g.example.com/grafana/'}",
        "prometheus: {alertmanager_url: 'https://[::1]:9093/alertmanager'}",
        "prometheus: {remote_write: [{name: m, url: 'https://m.example.com/api/v1/push?tenant=a%20b', headers: {X-Scope-OrgID: 'team a'}}]}",
        "images: {registry: 'localhost:5000/mirror', otelcol: 'otel/c@sha256:0123456789abcdef0123456789abcdef'}",
        "kubernetes: {storage_class: fast.ssd, context: 'arn:aws:eks:eu-west-1:1:cluster/x'}",
        "client: {grpc_endpoint: 'https://otel.example.com:4317/', http_endpoint: 'https://otel.example.com/otlp'}",
    ],
)
def test_ordinary_values_stay_valid(tmp_path: Path, text: str) -> None:
    assert load_config(write(tmp_path, text + "\n"))


@pytest.mark.parametrize("path", sorted((Path(__file__).parent / "limits").glob("*.yaml")))
def test_the_limit_configs_are_valid(path: Path) -> None:
    """tests/test_validate.py checks their output with the real tools (integration)."""
    assert load_config(path)


def test_retention_size_must_fit_the_kubernetes_volume() -> None:
    with pytest.raises(ValidationError, match=r"retention_size 19GB does not fit .* 20Gi"):
        StackConfig.model_validate(
            {"target": "kubernetes", "prometheus": {"retention_size": "19GB"}}
        )
    fits = StackConfig.model_validate(
        {"target": "kubernetes", "prometheus": {"retention_size": "18GB"}}
    )
    assert "--storage.tsdb.retention.size=18GB" in prometheus_args(fits)
    # Unset: 80% of the volume, so the volume never fills before Prometheus trims.
    default = StackConfig.model_validate({"target": "kubernetes"})
    assert "--storage.tsdb.retention.size=16384MB" in prometheus_args(default)
    assert not any("retention.size" in a for a in prometheus_args(StackConfig()))


# --- variables that hold secrets (issue 17) --------------------------------------------------

SECRET_VARIABLE_FIELDS = {
    "collector.auth.token_env": "collector: {{auth: {{token_env: {}}}}}",
    "grafana.admin_password_env": "grafana: {{admin_password_env: {}}}",
    "prometheus.remote_write.0.bearer_token_env": (
        "prometheus: {{remote_write: [{{name: m, url: 'https://m/p', bearer_token_env: {}}}]}}"
    ),
}


@pytest.mark.parametrize(
    "name",
    ["PATH", "HOME", "SHELL", "USER", "PWD", "LANG", "TERM", "path", "Home", "LC_ALL"]
    + ["XDG_RUNTIME_DIR", "OTEL_EXPORTER_OTLP_HEADERS", "LD_PRELOAD", "KUBECONFIG"],
)
@pytest.mark.parametrize("field", SECRET_VARIABLE_FIELDS)
def test_well_known_variables_cannot_hold_a_secret(tmp_path: Path, field: str, name: str) -> None:
    """`token_env: PATH` made `$PATH` the token (and the Collector container's PATH)."""
    (line,) = problems(tmp_path, SECRET_VARIABLE_FIELDS[field].format(name) + "\n")
    assert line.startswith(f"{field}: '{name}' is a variable the system or a tool sets")
    assert "name a variable of your own (e.g. STACKKIT_OTLP_TOKEN)" in line


@pytest.mark.parametrize(
    "value",
    ['"A\\nB"', "'A\"B'", '"A\'B"', "'A`id`'", "'$HOME'", "'../x'", "''", "'" + "A" * 5000 + "'"],
    ids=["newline", "double quote", "single quote", "backtick", "dollar", "path", "empty", "huge"],
)
def test_token_env_hostile_values(tmp_path: Path, value: str) -> None:
    (line,) = problems(tmp_path, f"collector: {{auth: {{token_env: {value}}}}}\n")
    assert line.startswith("collector.auth.token_env: ")
    assert "is not an environment variable name" in line and len(line) < 300


def test_own_variables_stay_valid() -> None:
    cfg = StackConfig.model_validate({"collector": {"auth": {"token_env": "MY_TEAM_OTLP_TOKEN"}}})
    assert cfg.collector.auth.token_env == "MY_TEAM_OTLP_TOKEN"


# --- duration bounds: the range a message names is one the field takes (issue 17) ------------

DURATIONS = {
    "collector.max_stale": "collector: {{max_stale: '{}'}}",
    "collector.metric_expiration": "collector: {{metric_expiration: '{}'}}",
    "collector.push_interval": "collector: {{push_interval: '{}'}}",
    "collector.batch.timeout": "collector: {{batch: {{timeout: '{}'}}}}",
    "prometheus.retention_time": "prometheus: {{retention_time: '{}'}}",
    "prometheus.scrape_interval": "prometheus: {{scrape_interval: '{}'}}",
}


@pytest.mark.parametrize("field", DURATIONS)
def test_the_range_a_duration_message_names_is_accepted(tmp_path: Path, field: str) -> None:
    import re

    (line,) = problems(tmp_path, DURATIONS[field].format("900000h") + "\n")
    m = re.search(r"out of range: use (\S+) to (\S+)$", line)
    assert m, line
    for bound in m.groups():
        text = DURATIONS[field].format(bound)
        assert load_config(write(tmp_path, text + "\n")), f"{field}: {bound} is refused"


def test_max_stale_names_its_upper_bound_in_go_syntax(tmp_path: Path) -> None:
    """It said `use 1m to 365d` and refused 365d (the Collector has no d)."""
    (line,) = problems(tmp_path, "collector: {max_stale: '9000h'}\n")
    assert line == "collector.max_stale: '9000h' is out of range: use 1m to 8760h"
    assert StackConfig.model_validate({"collector": {"max_stale": "8760h"}})
    (line,) = problems(tmp_path, "collector: {max_stale: '365d'}\n")
    assert "is not a Collector duration" in line and "720h" in line


EXISTING_MODE = (
    "target: kubernetes\n"
    "collector: {export: scrape}\n"
    "grafana: {prometheus_url: 'http://prometheus-operated.monitoring:9090'}\n"
)
RECEIVER = "alertmanager: {receivers: [{name: chat, slack: {api_url_env: SLACK_URL}}]}\n"


def test_receivers_in_existing_mode_go_to_the_operators_alertmanager(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, EXISTING_MODE + "prometheus: {mode: existing}\n" + RECEIVER))
    assert cfg.routes_alerts and not cfg.runs_alertmanager


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "prometheus: {mode: agent, remote_write: [{name: r, url: 'http://r.example.com/w'}]}\n"
            "grafana: {prometheus_url: 'http://q.example.com'}\n" + RECEIVER,
            "alertmanager.receivers",
            "prometheus.mode agent evaluates no alert rule",
        ),
        (
            # A long (valid) URL is not repeated in the message.
            EXISTING_MODE + "prometheus: {mode: existing, alertmanager_url: "
            f"'http://am.example.com:9093/{'x' * 2000}'}}\n" + RECEIVER,
            "alertmanager.receivers",
            "set the receivers there, or remove prometheus.alertmanager_url",
        ),
        (
            "alertmanager: {enabled: false, receivers: [{name: c, webhook: {url_env: U}}]}\n",
            "alertmanager.receivers",
            "remove enabled: false, or the receivers",
        ),
        (
            EXISTING_MODE + "prometheus: {mode: existing}\nalertmanager: {enabled: true}\n",
            "alertmanager.enabled",
            "the receivers become an AlertmanagerConfig",
        ),
    ],
    ids=["agent", "existing-with-alertmanager-url", "disabled", "existing-enabled"],
)
def test_receivers_nothing_would_route_are_refused_saying_what_to_do(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    lines = problems(tmp_path, text)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{field}: ") and message in lines[0], lines[0]
    assert "xxxx" not in lines[0] and "\n" not in lines[0]
