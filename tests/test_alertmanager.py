"""The stack's Alertmanager: when it runs, its config section, and the file it reads (checked by
the real amtool)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackkit import deploy
from stackkit.config import StackConfig
from stackkit.errors import ConfigError, DeployError
from stackkit.manifests import manifests, secrets
from stackkit.output import write
from stackkit.render import Files, render

WEBHOOK = {"name": "hook", "webhook": {"url": "http://hooks.example.com:8080/alerts"}}
EVERY_KIND = [
    {"name": "pager", "severities": ["critical"], "pagerduty": {"routing_key_env": "PD_KEY"}},
    {"name": "chat", "slack": {"api_url_env": "SLACK_URL", "channel": "#claude-code"}},
    {
        "name": "mail",
        "email": {
            "to": "team@example.com",
            "from": "stackkit@example.com",
            "smarthost": "smtp.example.com:587",
            "auth_username": "stackkit",
            "auth_password_env": "SMTP_PW",
        },
    },
    {"name": "hook", "webhook": {"url_env": "HOOK_URL"}},
]
SECRETS = {
    "PD_KEY": "pd-SECRET-1",
    "SLACK_URL": "https://hooks.slack.com/services/T0/B0/SECRET-2",
    "SMTP_PW": "smtp-SECRET-3",
    "HOOK_URL": "https://hooks.example.com/x?token=SECRET-4",
}


EXISTING: dict[str, Any] = {
    "target": "kubernetes",
    "collector": {"export": "scrape"},
    "prometheus": {"mode": "existing"},
    "grafana": {"prometheus_url": "http://prometheus-operated.monitoring:9090"},
    "kubernetes": {"namespace": "cc-team", "monitor_labels": {"release": "kps"}},
}
AGENT: dict[str, Any] = {
    "prometheus": {
        "mode": "agent",
        "remote_write": [{"name": "r", "url": "http://r.example.com/w"}],
    },
    "grafana": {"prometheus_url": "http://q.example.com"},
}


def _cfg(**data: Any) -> StackConfig:
    return StackConfig.model_validate(data)


def _problems(**data: Any) -> str:
    from stackkit.config import problem_lines

    with pytest.raises(Exception) as info:
        StackConfig.model_validate(data)
    return "\n".join(problem_lines(info.value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "runs"),
    [
        ({}, True),
        ({"prometheus": {"alertmanager_url": "http://am.example.com:9093"}}, False),
        ({"target": "kubernetes"}, True),
        ({"alertmanager": {"enabled": False}}, False),
        (AGENT, False),
    ],
    ids=["docker-default", "own-alertmanager-url", "kubernetes", "disabled", "agent"],
)
def test_on_by_default_where_the_stack_evaluates_alerts(data: dict[str, Any], runs: bool) -> None:
    cfg = _cfg(**data)
    assert cfg.runs_alertmanager is runs
    files = render(cfg)
    assert ("alertmanager/alertmanager.yml" in {str(p) for p in files}) is runs
    assert [c.name for c in deploy.build(cfg).components if c.name == "alertmanager"] == (
        ["alertmanager"] if runs else []
    )
    alerting = yaml.safe_load(files[Path("prometheus/prometheus.yml")]).get("alerting")  # type: ignore[index]
    if runs:
        manager = alerting["alertmanagers"][0]
        assert manager["static_configs"] == [{"targets": ["alertmanager:9093"]}]
        if cfg.target == "docker":
            assert manager["basic_auth"]["password_file"] == "/etc/prometheus/secrets/password"
        else:  # No credential on a cluster (yet): its NetworkPolicy lets only Prometheus in.
            assert "basic_auth" not in manager
            objects = manifests(cfg, deploy.build(cfg), {str(p): t for p, t in files.items()})
            policy = next(
                o for o in objects["kubernetes/alertmanager.yaml"] if o["kind"] == "NetworkPolicy"
            )
            assert policy["spec"]["ingress"] == [
                {
                    "from": [{"podSelector": {"matchLabels": {
                        "app.kubernetes.io/name": "prometheus",
                        "app.kubernetes.io/instance": cfg.name,
                    }}}],
                    "ports": [{"port": 9093, "protocol": "TCP"}],
                }
            ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (
            {
                "prometheus": {"alertmanager_url": "http://am.example.com"},
                "alertmanager": {"enabled": True},
            },
            "",
            "alerts go to one Alertmanager",
        ),
        (
            {
                "target": "kubernetes",
                "prometheus": {"alertmanager_url": "http://am.example.com:9093"},
                "alertmanager": {"receivers": [WEBHOOK]},
            },
            "alertmanager.receivers",
            "set the receivers there, or remove prometheus.alertmanager_url",
        ),
        (
            {**EXISTING, "alertmanager": {"enabled": True}},
            "alertmanager.enabled",
            "remove alertmanager.enabled",
        ),
        (
            {
                **EXISTING,
                "prometheus": {"mode": "existing", "alertmanager_url": "http://am.example.com"},
                "alertmanager": {"receivers": [WEBHOOK]},
            },
            "alertmanager.receivers",
            "remove prometheus.alertmanager_url",
        ),
        (
            {**AGENT, "alertmanager": {"receivers": [WEBHOOK]}},
            "alertmanager.receivers",
            "prometheus.mode agent evaluates no alert rule",
        ),
        (
            {"alertmanager": {"enabled": False, "receivers": [WEBHOOK]}},
            "alertmanager.receivers",
            "alertmanager.enabled is false",
        ),
        # The Operator names a receiver <namespace>/<object>/<name>: a name stays a DNS label.
        (
            {**EXISTING, "alertmanager": {"receivers": [{**WEBHOOK, "name": "a/b"}]}},
            "alertmanager.receivers.0.name",
            "DNS label",
        ),
        (
            {
                **EXISTING,
                "alertmanager": {
                    "receivers": [{"name": "h", "webhook": {"url": "http://h/x\nurl: y"}}]
                },
            },
            "alertmanager.receivers.0.webhook.url",
            "is not a URL",
        ),
        ({"alertmanager": {"receivers": [WEBHOOK, WEBHOOK]}}, "alertmanager", "unique"),
        ({"alertmanager": {"port": 9090}}, "", "prometheus.port and alertmanager.port"),
        ({"alertmanager": {"recievers": []}}, "alertmanager.recievers", "unknown key"),
        (
            {"alertmanager": {"receivers": [{"name": "x"}]}},
            "alertmanager.receivers.0",
            "exactly one of webhook, slack, email and pagerduty",
        ),
        (
            {"alertmanager": {"receivers": [{**WEBHOOK, "slack": {"api_url_env": "S"}}]}},
            "alertmanager.receivers.0",
            "exactly one",
        ),
        # Secrets only through variables: never a URL with credentials, nor a system variable.
        (
            {"alertmanager": {"receivers": [{"name": "h", "webhook": {"url": "http://u:p@h/x"}}]}},
            "alertmanager.receivers.0.webhook.url",
            "holds credentials",
        ),
        (
            {
                "alertmanager": {
                    "receivers": [{"name": "p", "pagerduty": {"routing_key_env": "PATH"}}]
                }
            },
            "alertmanager.receivers.0.pagerduty.routing_key_env",
            "not a secret",
        ),
        (
            {"alertmanager": {"receivers": [{"name": "p", "pagerduty": {"routing_key": "abc"}}]}},
            "alertmanager.receivers.0.pagerduty.routing_key",
            "unknown key",
        ),
        (
            {"alertmanager": {"receivers": [{"name": "s", "slack": {"api_url_env": "A\nB"}}]}},
            "alertmanager.receivers.0.slack.api_url_env",
            "environment variable name",
        ),
        # Text that would break out of its YAML line, or a name that is no name.
        (
            {
                "alertmanager": {
                    "receivers": [{"name": "s", "slack": {"api_url_env": "S", "channel": "#a\nb"}}]
                }
            },
            "alertmanager.receivers.0.slack.channel",
            "should match pattern",
        ),
        (
            {
                "alertmanager": {
                    "receivers": [
                        {
                            "name": "m",
                            "email": {
                                "to": 'a"@example.com',
                                "from": "s@example.com",
                                "smarthost": "smtp.example.com:25",
                            },
                        }
                    ]
                }
            },
            "alertmanager.receivers.0.email.to",
            "not an e-mail address",
        ),
        (
            {
                "alertmanager": {
                    "receivers": [
                        {
                            "name": "m",
                            "email": {
                                "to": "a@example.com",
                                "from": "s@example.com",
                                "smarthost": "smtp.example.com",
                            },
                        }
                    ]
                }
            },
            "alertmanager.receivers.0.email.smarthost",
            "not host:port",
        ),
        ({"alertmanager": {"receivers": [{**WEBHOOK, "name": "A B"}]}}, "name", "DNS label"),
        ({"alertmanager": {"group_by": ["team-id"]}}, "alertmanager.group_by.0", "label name"),
        ({"alertmanager": {"group_by": ["x" * 10_000]}}, "alertmanager.group_by.0", "label"),
        ({"alertmanager": {"receivers": [WEBHOOK] * 33}}, "alertmanager.receivers", "at most 32"),
        ({"alertmanager": {"repeat_interval": "10s"}}, "repeat_interval", "use 1m to 30d"),
        ({"alertmanager": {"group_wait": "1h1s"}}, "group_wait", "out of range"),
        ({"alertmanager": {"group_interval": "5 m"}}, "group_interval", "Prometheus duration"),
        ({"alertmanager": {"enabled": "yes"}}, "alertmanager.enabled", "valid boolean"),
    ],
)
def test_hostile_values_are_refused_naming_the_field(
    data: dict[str, Any], field: str, says: str
) -> None:
    problems = _problems(**data)
    assert says in problems
    if field:
        assert field in problems
    assert len(problems) < 2000  # a huge value is shortened in its message


def test_secrets_reach_no_rendered_file_and_a_missing_one_names_its_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _cfg(alertmanager={"receivers": EVERY_KIND})
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    text = "".join(render(cfg).values())
    assert "SECRET" not in text
    values = deploy.secret_values(cfg)["stackkit-alertmanager"]
    assert values == {
        "pager-routing-key": SECRETS["PD_KEY"],
        "chat-slack-url": SECRETS["SLACK_URL"],
        "mail-smtp-password": SECRETS["SMTP_PW"],
        "hook-url": SECRETS["HOOK_URL"],
    }
    am = deploy.build(cfg).component("alertmanager")
    assert "SECRET" not in repr(am)
    monkeypatch.delenv("SMTP_PW")
    with pytest.raises(DeployError, match=r"alertmanager.receivers\[2\] \(mail\).*set SMTP_PW"):
        deploy.secret_values(cfg)


def test_receivers_group_and_repeat_as_configured() -> None:
    cfg = _cfg(
        alertmanager={
            "receivers": EVERY_KIND,
            "group_by": ["alertname", "team_id"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "12h",
        }
    )
    am = yaml.safe_load(render(cfg)[Path("alertmanager/alertmanager.yml")])  # type: ignore[index]
    route = am["route"]
    assert route["group_by"] == ["alertname", "team_id"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "10s",
        "1m",
        "12h",
    )
    # Every receiver gets every alert it takes; the pager only the critical ones.
    assert [(r["receiver"], r["continue"], r.get("matchers")) for r in route["routes"]] == [
        ("pager", True, ['severity=~"critical"']),
        ("chat", True, None),
        ("mail", True, None),
        ("hook", True, None),
    ]
    by_name = {r["name"]: r for r in am["receivers"]}
    assert by_name["hook"]["webhook_configs"][0]["url_file"] == (
        "/etc/alertmanager/secrets/hook-url"
    )
    assert by_name["mail"]["email_configs"][0]["from"] == "stackkit@example.com"


def test_the_config_file_loader_names_the_file_and_field(tmp_path: Path) -> None:
    from stackkit.config import load_config

    path = tmp_path / "stackkit.yaml"
    path.write_text("alertmanager:\n  receivers:\n    - name: x\n      webhook: {url: 'h\"'}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "alertmanager.receivers.0.webhook.url" in str(info.value)


def _operator_docs(cfg: StackConfig) -> list[dict[str, Any]]:
    text = render(cfg)[Path("kubernetes/prometheus-operator.yaml")]  # type: ignore[index]
    return [d for d in yaml.safe_load_all(text) if d]


def _alertmanager_config(cfg: StackConfig) -> dict[str, Any]:
    (found,) = [d for d in _operator_docs(cfg) if d["kind"] == "AlertmanagerConfig"]
    return found


@pytest.mark.parametrize(
    ("data", "routes"),
    [
        ({}, True),
        ({"target": "kubernetes"}, True),
        (EXISTING, True),
        ({**EXISTING, "alertmanager": {"enabled": False}}, False),
        ({"prometheus": {"alertmanager_url": "http://am.example.com:9093"}}, False),
        (AGENT, False),
    ],
    ids=["docker", "kubernetes", "existing", "existing-disabled", "own-url", "agent"],
)
def test_receivers_are_routed_by_the_stacks_or_the_operators_alertmanager(
    data: dict[str, Any], routes: bool
) -> None:
    cfg = _cfg(**data)
    assert cfg.routes_alerts is routes
    if cfg.prometheus.mode == "existing":
        assert not cfg.runs_alertmanager  # the Operator runs it


def test_existing_mode_routes_every_receiver_kind_through_the_operators_alertmanager() -> None:
    cfg = _cfg(
        **EXISTING,
        alertmanager={
            "receivers": EVERY_KIND,
            "group_by": ["alertname", "team_id"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "12h",
        },
    )
    found = _alertmanager_config(cfg)
    assert found["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    # Where the Operator's Alertmanager finds it: the stack's namespace, its monitor labels.
    assert found["metadata"]["namespace"] == "cc-team"
    assert found["metadata"]["labels"]["release"] == "kps"
    route = found["spec"]["route"]
    assert (route["receiver"], route["groupBy"]) == ("stackkit-none", ["alertname", "team_id"])
    assert (route["groupWait"], route["groupInterval"], route["repeatInterval"]) == (
        "10s",
        "1m",
        "12h",
    )
    severity = {"name": "severity", "matchType": "=~", "value": "critical"}
    assert [(r["receiver"], r["continue"], r.get("matchers")) for r in route["routes"]] == [
        ("pager", True, [severity]),
        ("chat", True, None),
        ("mail", True, None),
        ("hook", True, None),
    ]

    def secret(key: str) -> dict[str, str]:
        return {"name": "stackkit-alertmanager", "key": key}

    assert found["spec"]["receivers"] == [
        {"name": "stackkit-none"},
        {
            "name": "pager",
            "pagerdutyConfigs": [{"sendResolved": True, "routingKey": secret("pager-routing-key")}],
        },
        {
            "name": "chat",
            "slackConfigs": [
                {
                    "sendResolved": True,
                    "apiURL": secret("chat-slack-url"),
                    "channel": "#claude-code",
                }
            ],
        },
        {
            "name": "mail",
            "emailConfigs": [
                {
                    "sendResolved": False,
                    "to": "team@example.com",
                    "from": "stackkit@example.com",
                    "smarthost": "smtp.example.com:587",
                    "requireTLS": True,
                    "authUsername": "stackkit",
                    "authPassword": secret("mail-smtp-password"),
                }
            ],
        },
        {
            "name": "hook",
            "webhookConfigs": [{"sendResolved": True, "urlSecret": secret("hook-url")}],
        },
    ]


def test_the_operators_routes_are_the_stacks_own() -> None:
    """Same receivers, order, severities and grouping as alertmanager.yml on Docker."""
    receivers = [
        *EVERY_KIND,
        {"name": "both", "severities": ["warning", "critical"], "webhook": {"url_env": "B"}},
    ]
    own = yaml.safe_load(
        render(_cfg(alertmanager={"receivers": receivers}))[Path("alertmanager/alertmanager.yml")]  # type: ignore[index]
    )["route"]
    theirs = _alertmanager_config(_cfg(**EXISTING, alertmanager={"receivers": receivers}))
    route = theirs["spec"]["route"]

    def matchers(r: dict[str, Any]) -> list[str] | None:
        found = r.get("matchers")
        return [f'{m["name"]}{m["matchType"]}"{m["value"]}"' for m in found] if found else None

    assert [(r["receiver"], r["continue"], matchers(r)) for r in route["routes"]] == [
        (r["receiver"], r["continue"], r.get("matchers")) for r in own["routes"]
    ]
    assert (route["receiver"], route["groupBy"], route["repeatInterval"]) == (
        own["receiver"],
        own["group_by"],
        own["repeat_interval"],
    )


def test_a_webhook_url_without_a_secret_is_written_as_is() -> None:
    found = _alertmanager_config(_cfg(**EXISTING, alertmanager={"receivers": [WEBHOOK]}))
    (hook,) = found["spec"]["receivers"][1]["webhookConfigs"]
    assert hook == {"sendResolved": True, "url": "http://hooks.example.com:8080/alerts"}


def test_no_receivers_no_alertmanager_config() -> None:
    kinds = [d["kind"] for d in _operator_docs(_cfg(**EXISTING))]
    assert kinds == ["ServiceMonitor", "PrometheusRule"]


def test_up_puts_the_secrets_the_operators_routes_name_in_the_stacks_namespace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = _cfg(**EXISTING, alertmanager={"receivers": EVERY_KIND})
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    files = {str(p): t for p, t in render(cfg).items()}
    assert "SECRET" not in "".join(files.values())
    stack = deploy.build(cfg)
    assert "alertmanager" not in [c.name for c in stack.components]  # the Operator runs it
    (made,) = [
        s
        for s in secrets(cfg, stack, deploy.secret_values(cfg))
        if s["metadata"]["name"] == "stackkit-alertmanager"
    ]
    assert made["metadata"]["namespace"] == "cc-team"
    named = {
        (ref["name"], ref["key"])
        for r in _alertmanager_config(cfg)["spec"]["receivers"]
        for kind in ("webhookConfigs", "slackConfigs", "emailConfigs", "pagerdutyConfigs")
        for c in r.get(kind, [])
        for ref in (c.get("urlSecret"), c.get("apiURL"), c.get("authPassword"), c.get("routingKey"))
        if ref
    }
    assert named == {("stackkit-alertmanager", k) for k in made["stringData"]}
    assert sorted(made["stringData"].values()) == sorted(SECRETS.values())
    assert "SECRET" not in repr(stack)
    monkeypatch.delenv("PD_KEY")
    with pytest.raises(DeployError, match=r"alertmanager.receivers\[0\] \(pager\).*set PD_KEY"):
        deploy.secret_values(cfg)


def _amtool(amtool: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(amtool), "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_amtool_accepts_every_rendered_config(
    rendered: Files, amtool_bin: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    write(rendered, out)
    config = out / "alertmanager" / "alertmanager.yml"
    if not config.exists():  # this example's stack runs no Alertmanager
        assert "alertmanager" not in {p.parts[0] for p in rendered}
        return
    result = _amtool(amtool_bin, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_accepts_every_receiver_kind_and_rejects_a_broken_config(
    amtool_bin: Path, tmp_path: Path
) -> None:
    cfg = _cfg(alertmanager={"receivers": EVERY_KIND})
    out = tmp_path / "out"
    write(render(cfg), out)
    config = out / "alertmanager" / "alertmanager.yml"
    result = _amtool(amtool_bin, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 receivers" in result.stdout
    # The check can fail: a route to a receiver that does not exist.
    broken = config.read_text().replace("receiver: chat", "receiver: nobody-here")
    config.write_text(broken)
    result = _amtool(amtool_bin, config)
    assert result.returncode != 0
    assert "nobody-here" in result.stdout + result.stderr
