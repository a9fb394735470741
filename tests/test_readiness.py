"""`up` waits until every component runs and answers, and names the one that does not."""

from __future__ import annotations

import pytest

from stackkit import deploy, readiness
from stackkit.config import StackConfig
from stackkit.docker_api import ContainerState
from stackkit.errors import DeployError


class FakeEngine:
    """Each container's states in turn (the last one repeats), and its log."""

    def __init__(self, states: dict[str, list[ContainerState | None]]) -> None:
        self.states = states
        self.logs = {"claude-code-otelcol": ["Error: failed to get config", "'x' unknown type"]}

    def state(self, name: str) -> ContainerState | None:
        seq = self.states[name.removeprefix("claude-code-")]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def log_tail(self, name: str, lines: int = 5) -> list[str]:
        return self.logs.get(name, [])[-lines:]


def _state(status: str = "running", restarts: int = 0, code: int = 0) -> ContainerState:
    return ContainerState(status, code, restarts, frozenset())


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The probe URLs that answer (readiness probes no real server here)."""
    up: set[str] = set()
    monkeypatch.setattr(
        readiness, "http_ok", lambda url, timeout=5.0, authorization=None: url in up
    )
    monkeypatch.setattr(readiness, "POLL_S", 0.0)
    return up


def _wait(engine: FakeEngine, timeout: float = 5.0) -> list[str]:
    said: list[str] = []
    readiness.wait(deploy.build(StackConfig()), "127.0.0.1", engine, said.append, timeout)  # type: ignore[arg-type]
    return said


def test_probes_are_the_models_readiness_paths_on_the_published_ports() -> None:
    stack = deploy.build(StackConfig())
    assert stack.probe_urls("0.0.0.0") == {
        "otelcol": "http://127.0.0.1:13133/",
        "prometheus": "http://127.0.0.1:9090/-/ready",
        "alertmanager": "http://127.0.0.1:9093/-/ready",
        "grafana": "http://127.0.0.1:3000/api/health",
    }
    assert stack.probe_urls("::")["grafana"] == "http://[::1]:3000/api/health"
    assert stack.probe_urls("fd00::5")["otelcol"] == "http://[fd00::5]:13133/"


def test_returns_once_every_component_runs_and_answers(answering: set[str]) -> None:
    answering.update(deploy.build(StackConfig()).probe_urls("127.0.0.1").values())
    engine = FakeEngine(
        {
            "otelcol": [_state("created"), _state()],
            "prometheus": [_state()],
            "alertmanager": [_state()],
            "grafana": [_state()],
        }
    )
    assert _wait(engine) == []


def test_a_crash_looping_component_fails_up_with_its_last_words(answering: set[str]) -> None:
    engine = FakeEngine(
        {
            "otelcol": [_state("running", 3), _state("restarting", 4, 1), _state("running", 5)],
            "prometheus": [_state()],
            "alertmanager": [_state()],
            "grafana": [_state()],
        }
    )
    with pytest.raises(DeployError) as info:
        _wait(engine)
    message = str(info.value)
    assert message.startswith("claude-code-otelcol keeps restarting")
    assert "'x' unknown type" in message and "run `stackkit up` again" in message


def test_an_exited_component_fails_up(answering: set[str]) -> None:
    engine = FakeEngine(
        {
            "otelcol": [_state()],
            "prometheus": [_state("exited", 0, 2)],
            "alertmanager": [_state()],
            "grafana": [_state()],
        }
    )
    with pytest.raises(DeployError, match="claude-code-prometheus stopped, exit code 2"):
        _wait(engine)


def test_a_component_that_never_answers_times_out_naming_it(answering: set[str]) -> None:
    urls = deploy.build(StackConfig()).probe_urls("127.0.0.1")
    answering.update([urls["otelcol"], urls["alertmanager"], urls["grafana"]])
    engine = FakeEngine({n: [_state()] for n in urls})
    with pytest.raises(DeployError) as info:
        _wait(engine, timeout=0.3)
    assert str(info.value).startswith("prometheus did not answer within 0 s")
    assert "http://127.0.0.1:9090/-/ready" in str(info.value)


def test_a_container_removed_meanwhile(answering: set[str]) -> None:
    engine = FakeEngine(
        {
            "otelcol": [None],
            "prometheus": [_state()],
            "alertmanager": [_state()],
            "grafana": [_state()],
        }
    )
    with pytest.raises(DeployError, match="claude-code-otelcol is gone"):
        _wait(engine)


def test_a_probe_carries_the_header_its_component_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's Prometheus refuses a probe without its reader's credential."""
    asked: dict[str, str | None] = {}

    def http_ok(url: str, timeout: float = 5.0, authorization: str | None = None) -> bool:
        asked[url] = authorization
        return True

    monkeypatch.setattr(readiness, "http_ok", http_ok)
    stack = deploy.build(StackConfig())
    engine = FakeEngine({c.name: [_state()] for c in stack.components})
    secrets = deploy.secret_values(StackConfig())
    auth = deploy.probe_authorizations(stack, secrets)
    # The Alertmanager shares Prometheus' user and password.
    assert set(auth) == {"prometheus", "alertmanager"}
    assert auth["prometheus"].startswith("Basic ")
    assert auth["alertmanager"] == auth["prometheus"]
    readiness.wait(stack, "127.0.0.1", engine, lambda _: None, 5.0, auth)  # type: ignore[arg-type]
    assert asked == {
        "http://127.0.0.1:13133/": None,
        "http://127.0.0.1:9090/-/ready": auth["prometheus"],
        "http://127.0.0.1:9093/-/ready": auth["alertmanager"],
        "http://127.0.0.1:3000/api/health": None,
    }
