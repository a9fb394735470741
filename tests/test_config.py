"""The config model: defaults, precedence, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stackkit.config import StackConfig, json_schema, load_config
from stackkit.errors import ConfigError
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
    assert "'forever' is not valid" in by_field["prometheus.retention_time"]


def test_wrong_type(tmp_path: Path) -> None:
    assert problems(tmp_path, "collector: {memory_limit_mib: lots}\n")[0].startswith(
        "collector.memory_limit_mib: Input should be a valid integer"
    )


def test_clashing_ports(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, "collector: {http: {port: 4317}}\n")
    assert line.startswith(
        "collector: Value error, grpc, http, health, metrics and telemetry ports"
    )


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
