"""The stack's Alertmanager: its config section, and the alertmanager.yml built from it (or, with
``prometheus.mode: existing``, the Prometheus Operator's AlertmanagerConfig).

Prometheus fires alerts; Alertmanager groups them and sends them to people (a webhook, Slack,
e-mail, PagerDuty). Every secret a receiver needs (a Slack or webhook URL with its token, a
PagerDuty routing key, an SMTP password) is named by an environment variable in the config; its
value reaches the container as a file (Alertmanager's ``*_file`` settings), or the Operator's
Alertmanager through a Secret key, so it is never in the config file, the rendered files or a
log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)

from .fields import DAY, HOUR, MINUTE, DnsLabel, EnvName, Port, Url, prom_duration, shorten

SECRET = "stackkit-alertmanager"
"""The secret with every receiver's credentials; keys are ``<receiver>-<what>``."""
CONFIG_DIR = "/etc/alertmanager"
SECRETS_DIR = f"{CONFIG_DIR}/secrets"
DATA_DIR = "/alertmanager"
HOST = "alertmanager"
NOBODY = "stackkit-none"
"""The receiver that sends nothing: alerts no receiver takes (or all, with no receivers)."""

Severity = Literal["critical", "warning", "info"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _email(value: str) -> str:
    if len(value) > 254 or not re.fullmatch(
        r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)+",
        value,
    ):
        raise ValueError(f"{shorten(value)} is not an e-mail address (name@example.com)")
    return value


def _smarthost(value: str) -> str:
    m = re.fullmatch(
        r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?):"
        r"([0-9]{1,5})",
        value,
    )
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(f"{shorten(value)} is not host:port (e.g. smtp.example.com:587)")
    return value


def _label_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        raise ValueError(f"{shorten(value)} is not a label name (letters, digits and _)")
    return value


EmailAddress = Annotated[StrictStr, AfterValidator(_email)]
SmartHost = Annotated[StrictStr, AfterValidator(_smarthost)]
LabelName = Annotated[StrictStr, AfterValidator(_label_name)]
SlackChannel = Annotated[
    StrictStr,
    Field(pattern=r"^[#@]?[a-z0-9][a-z0-9._\-]{0,79}$"),
]


class Webhook(_Model):
    """An HTTP POST of each notification (Alertmanager's webhook JSON)."""

    url: Url | None = Field(None, description="The receiving URL, when it holds no secret.")
    url_env: EnvName | None = Field(
        None, description="Environment variable with the URL, when it holds a token."
    )
    send_resolved: StrictBool = True

    @model_validator(mode="after")
    def _one_url(self) -> Webhook:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set url or url_env (one of them)")
        return self


class Slack(_Model):
    """A Slack incoming webhook."""

    api_url_env: EnvName = Field(description="Environment variable with the webhook URL.")
    channel: SlackChannel | None = None
    send_resolved: StrictBool = True


class Email(_Model):
    """E-mail through an SMTP server."""

    to: EmailAddress
    sender: EmailAddress = Field(alias="from")
    smarthost: SmartHost = Field(description="The SMTP server, host:port.")
    auth_username: Annotated[StrictStr, Field(pattern=r"^[\x21-\x7e]{1,256}$")] | None = None
    auth_password_env: EnvName | None = None
    require_tls: StrictBool = True
    send_resolved: StrictBool = False

    @model_validator(mode="after")
    def _user_and_password(self) -> Email:
        if (self.auth_username is None) != (self.auth_password_env is None):
            raise ValueError("set both auth_username and auth_password_env, or neither")
        return self


class PagerDuty(_Model):
    """A PagerDuty service (Events API v2)."""

    routing_key_env: EnvName = Field(description="Environment variable with the routing key.")
    send_resolved: StrictBool = True


_SECRET_KEYS = {
    "webhook": "url",
    "slack": "slack-url",
    "email": "smtp-password",
    "pagerduty": "routing-key",
}
"""Each kind of receiver's secret (a webhook's URL, an SMTP password, ...), by kind."""


class Receiver(_Model):
    """Where alerts go: one of webhook, slack, email or pagerduty."""

    name: DnsLabel
    severities: tuple[Severity, ...] = Field(
        (), max_length=3, description="Only alerts of these severities; default: every alert."
    )
    webhook: Webhook | None = None
    slack: Slack | None = None
    email: Email | None = None
    pagerduty: PagerDuty | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Receiver:
        kinds = [k for k in _SECRET_KEYS if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("give exactly one of webhook, slack, email and pagerduty")
        return self

    @property
    def secret_key(self) -> str:
        """The key of :data:`SECRET` that holds this receiver's secret, when it has one."""
        kind = next(k for k in _SECRET_KEYS if getattr(self, k))
        return f"{self.name}-{_SECRET_KEYS[kind]}"

    def secrets(self) -> dict[str, str]:
        """The environment variable this receiver reads, by secret key (none, or one)."""
        var = (
            (self.webhook and self.webhook.url_env)
            or (self.slack and self.slack.api_url_env)
            or (self.email and self.email.auth_password_env)
            or (self.pagerduty and self.pagerduty.routing_key_env)
        )
        return {self.secret_key: var} if var else {}


class AlertmanagerConfig(_Model):
    """The stack's Alertmanager (or the Operator's): receivers and grouping."""

    enabled: StrictBool | None = Field(
        None,
        description="Default: on with prometheus.mode deploy when no "
        "prometheus.alertmanager_url is given. With prometheus.mode existing the receivers go "
        "to the Operator's Alertmanager (an AlertmanagerConfig); false routes nothing.",
    )
    port: Port = 9093
    receivers: tuple[Receiver, ...] = Field(
        (), max_length=32, description="Each one gets every alert (or those of its severities)."
    )
    group_by: tuple[LabelName, ...] = Field(
        ("alertname",), max_length=16, description="Alerts with equal values notify as one."
    )
    group_wait: Annotated[StrictStr, prom_duration(0, HOUR)] = Field(
        "30s", description="How long a new group waits for more alerts before notifying."
    )
    group_interval: Annotated[StrictStr, prom_duration(1000, DAY)] = Field(
        "5m", description="How long a group waits before notifying of alerts added to it."
    )
    repeat_interval: Annotated[StrictStr, prom_duration(MINUTE, 30 * DAY)] = Field(
        "4h", description="How long before a notification still firing is sent again."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AlertmanagerConfig:
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ValueError("receivers: names must be unique")
        if NOBODY in names:
            raise ValueError(f"receivers: {NOBODY} is stackkit's own name; choose another")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by: a label is given twice")
        return self

    def secrets(self) -> dict[str, str]:
        """Every environment variable the receivers read, by secret key."""
        return {k: v for r in self.receivers for k, v in r.secrets().items()}


def _severities(r: Receiver) -> str | None:
    """The regular expression of the severities ``r`` takes; None for every alert."""
    return "|".join(r.severities) or None


def _receiver(r: Receiver) -> dict[str, Any]:
    file = f"{SECRETS_DIR}/{r.secret_key}"
    out: dict[str, Any] = {"name": r.name}
    if w := r.webhook:
        hook: dict[str, Any] = {"send_resolved": w.send_resolved}
        hook |= {"url": w.url} if w.url else {"url_file": file}
        out["webhook_configs"] = [hook]
    elif s := r.slack:
        slack: dict[str, Any] = {"send_resolved": s.send_resolved, "api_url_file": file}
        if s.channel:
            slack["channel"] = s.channel
        out["slack_configs"] = [slack]
    elif e := r.email:
        mail: dict[str, Any] = {
            "send_resolved": e.send_resolved,
            "to": e.to,
            "from": e.sender,
            "smarthost": e.smarthost,
            "require_tls": e.require_tls,
        }
        if e.auth_username:
            mail |= {"auth_username": e.auth_username, "auth_password_file": file}
        out["email_configs"] = [mail]
    elif p := r.pagerduty:
        out["pagerduty_configs"] = [{"send_resolved": p.send_resolved, "routing_key_file": file}]
    return out


def _route(
    am: AlertmanagerConfig, key: Callable[[str], str], severity: Callable[[str], Any]
) -> dict[str, Any]:
    """The root route: every receiver gets every alert it takes (``continue``); ``key`` spells
    the grouping settings, ``severity`` makes the matcher of a receiver's severities."""
    routes = []
    for r in am.receivers:
        route: dict[str, Any] = {"receiver": r.name, "continue": True}
        if severities := _severities(r):
            route["matchers"] = [severity(severities)]
        routes.append(route)
    root: dict[str, Any] = {
        "receiver": NOBODY,
        key("group_by"): list(am.group_by),
        key("group_wait"): am.group_wait,
        key("group_interval"): am.group_interval,
        key("repeat_interval"): am.repeat_interval,
    }
    if routes:
        root["routes"] = routes
    return root


def config(am: AlertmanagerConfig) -> dict[str, Any]:
    """alertmanager.yml as data: every receiver gets every alert it takes (``continue``)."""
    return {
        "route": _route(am, str, lambda severities: f'severity=~"{severities}"'),
        "receivers": [{"name": NOBODY}, *(_receiver(r) for r in am.receivers)],
    }


# alertmanager.yml's keys as the Operator's AlertmanagerConfig spells them; its
# ``*_file`` settings become references to keys of :data:`SECRET`.
_OPERATOR_KEYS = {
    "send_resolved": "sendResolved",
    "require_tls": "requireTLS",
    "auth_username": "authUsername",
    "webhook_configs": "webhookConfigs",
    "slack_configs": "slackConfigs",
    "email_configs": "emailConfigs",
    "pagerduty_configs": "pagerdutyConfigs",
    "group_by": "groupBy",
    "group_wait": "groupWait",
    "group_interval": "groupInterval",
    "repeat_interval": "repeatInterval",
}
_OPERATOR_SECRETS = {
    "url_file": "urlSecret",
    "api_url_file": "apiURL",
    "auth_password_file": "authPassword",
    "routing_key_file": "routingKey",
}


def _operator_receiver(r: Receiver) -> dict[str, Any]:
    """:func:`_receiver` in the Operator's form."""
    secret = {"name": SECRET, "key": r.secret_key}

    def spelled(value: Any) -> Any:
        if isinstance(value, list):
            return [spelled(v) for v in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, v in value.items():
            key = str(key)
            if key in _OPERATOR_SECRETS:
                out[_OPERATOR_SECRETS[key]] = secret
            else:
                out[_OPERATOR_KEYS.get(key) or key] = spelled(v)
        return out

    return spelled(_receiver(r))  # type: ignore[no-any-return]


def operator_config(am: AlertmanagerConfig) -> dict[str, Any]:
    """The spec of the Prometheus Operator's AlertmanagerConfig (v1alpha1): :func:`config`'s
    routes for an Alertmanager the Operator runs. Secrets are keys of :data:`SECRET`, which
    must be in the AlertmanagerConfig's namespace.

    The Operator nests this route under its Alertmanager's own, names the receivers
    ``<namespace>/<object>/<receiver>``, and (its default matcher strategy) takes only alerts
    labelled ``namespace: <the object's namespace>``.
    """
    # The Operator requires a receiver on the root route. An alert none of ours takes ends with
    # nobody; the Operator makes this route `continue`, so the platform team's routes still see it.
    route = _route(
        am,
        lambda key: _OPERATOR_KEYS[key],
        lambda severities: {"name": "severity", "matchType": "=~", "value": severities},
    )
    return {
        "route": route,
        "receivers": [{"name": NOBODY}, *(_operator_receiver(r) for r in am.receivers)],
    }
