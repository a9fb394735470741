"""Properties of the config, for any input (Hypothesis):

- anything YAML can hold is either a valid config or a ConfigError naming the file: never a
  traceback, never another exception;
- a free-text value the config accepts reaches every rendered file as exactly that value, in
  that file's syntax: it is read back unchanged where it belongs and adds no setting, section or
  key anywhere (the INI, YAML and JSON files parse to the same shape as with a plain value);
- every value the config accepts renders (the stack a user asks for can be written).
"""

from __future__ import annotations

import configparser
import functools
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stackkit.config import StackConfig, load_config
from stackkit.errors import ConfigError
from stackkit.render import render

# Characters that break files and shells, mixed into arbitrary text.
SPECIAL = ["\n", "\r", '"', "'", "`", "$", "\\", "#", ";", "=", "[", "]", "{", "}", ":", "%", " "]
text = st.lists(
    st.one_of(st.sampled_from(SPECIAL), st.characters(blacklist_categories=("Cs",))),
    max_size=40,
).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), text)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
SECTIONS = [
    "name", "target", "collector", "attributes", "prometheus", "grafana", "alerts", "images",
    "docker", "kubernetes", "client",
]  # fmt: skip
configs = st.dictionaries(st.sampled_from(SECTIONS) | text, yaml_values, max_size=5)
FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(raw=configs)
def test_any_yaml_is_a_config_or_a_config_error(raw: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "stackkit.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as e:
        assert str(path) in str(e) or "stackkit.yaml" in str(e)


def shape(files: dict[PurePosixPath, str]) -> dict[str, Any]:
    """Each rendered file parsed by its format, reduced to its structure (keys, sections)."""
    out: dict[str, Any] = {}
    for rel, content in files.items():
        if rel.suffix == ".ini":
            ini = configparser.ConfigParser(interpolation=None, strict=True)
            ini.read_string(content)
            out[str(rel)] = {s: sorted(ini[s]) for s in ini.sections()}
        elif rel.suffix in (".yaml", ".yml"):
            out[str(rel)] = _keys([*yaml.safe_load_all(content)])
        elif rel.suffix == ".json":
            out[str(rel)] = _keys(json.loads(content))
    return out


def _keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_keys(v) for v in data]
    return None


def rendered(cfg: StackConfig) -> dict[PurePosixPath, str]:
    return {PurePosixPath(str(p)): t for p, t in render(cfg).items()}


def values(files: dict[PurePosixPath, str]) -> list[str]:
    """Every string value in every parsed file."""
    found: list[str] = []

    def walk(data: Any) -> None:
        if isinstance(data, dict):
            for v in data.values():
                walk(v)
        elif isinstance(data, list):
            for v in data:
                walk(v)
        elif isinstance(data, str):
            found.append(data)

    for rel, content in files.items():
        if rel.suffix == ".ini":
            ini = configparser.ConfigParser(interpolation=None, strict=True)
            ini.read_string(content)
            found += [v for s in ini.sections() for v in ini[s].values()]
        elif rel.suffix in (".yaml", ".yml"):
            walk([*yaml.safe_load_all(content)])
        elif rel.suffix == ".json":
            walk(json.loads(content))
    return found


@functools.cache
def base_shape(section: str, key: str, plain: str) -> dict[str, Any]:
    """The shape of the files rendered with a plain value (no section: the defaults)."""
    raw = {section: {key: plain}} if key else {}
    return shape(rendered(StackConfig.model_validate(raw)))


def accepted(section: str, key: str, value: Any, **more: Any) -> StackConfig | None:
    try:
        return StackConfig.model_validate({section: {key: value}, **more})
    except ValidationError:
        return None


# (section, key, a plain value, the file and the way it is read back)
FREE_TEXT = [
    ("grafana", "admin_user", "admin"),
    ("grafana", "root_url", "https://grafana.example.com/"),
    ("prometheus", "alertmanager_url", "http://alertmanager:9093"),
    ("grafana", "prometheus_url", "http://prometheus:9090"),
]


# Mostly valid-looking values with hostile characters around and inside them, so that many are
# accepted and the rendering of what is accepted gets exercised.
pieces = st.one_of(
    st.sampled_from(SPECIAL),
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(["a", "Z", "0", "-", "_", ".", "/", "?", "&", "é", "日本"]),
)
near = st.tuples(st.lists(pieces, max_size=3), st.lists(pieces, max_size=6)).map(
    lambda t: ("".join(t[0]), "".join(t[1]))
)
# A render takes tens of milliseconds: fewer examples where each one renders.
MANY_REJECTED = settings(
    FAST,
    max_examples=25,
    suppress_health_check=[*FAST.suppress_health_check, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize(("section", "key", "plain"), FREE_TEXT)
@MANY_REJECTED
@given(around=near, cut=st.integers(0, 40))
def test_accepted_free_text_lands_as_one_value(
    section: str, key: str, plain: str, around: tuple[str, str], cut: int
) -> None:
    cut = min(cut, len(plain))
    value = around[0] + plain[:cut] + around[1] + plain[cut:]
    cfg = accepted(section, key, value)
    assume(cfg is not None)
    assert cfg is not None
    files = rendered(cfg)
    stored = str(getattr(getattr(cfg, section), key))
    found = values(files)
    if key == "alertmanager_url":
        # Prometheus takes it apart (scheme, host:port, a path as path_prefix); hosts have no case.
        split = urlsplit(stored)
        assert shape(files) == base_shape(section, key, plain + split.path.rstrip("/"))
        assert f"{split.hostname}:{split.port or 80}".lower() in [v.lower() for v in found]
        return
    assert shape(files) == base_shape(section, key, plain), f"{key}={value!r} changed a file"
    assert stored in found or stored.rstrip("/") in found


@MANY_REJECTED
@given(attrs=st.dictionaries(text, text, max_size=4))
def test_accepted_client_attributes_never_add_a_key(attrs: dict[str, str]) -> None:
    cfg = accepted("client", "resource_attributes", attrs)
    assume(cfg is not None)
    assert cfg is not None
    assert shape(rendered(cfg)).keys() == base_shape("name", "", "").keys()


@MANY_REJECTED
@given(labels=st.lists(text, max_size=4))
def test_accepted_labels_render_parseable_files(labels: list[str]) -> None:
    cfg = accepted("attributes", "labels", labels)
    assume(cfg is not None)
    assert cfg is not None
    shape(rendered(cfg))  # every file parses


numbers = st.one_of(st.integers(-(10**12), 10**12), st.floats(allow_nan=True))
NUMERIC = [
    ("collector", "memory_limit_mib"),
    ("collector", "max_series"),
    ("collector", "queue_size"),
    ("prometheus", "memory_limit_mib"),
    ("alerts", "user_spend_usd_per_hour"),
    ("alerts", "team_spend_usd_per_hour"),
    ("alerts", "monthly_budget_usd"),
    ("alerts", "no_telemetry_minutes"),
    ("alerts", "new_series_per_hour"),
    ("alerts", "api_error_ratio"),
    ("alerts", "api_overload_errors"),
    ("client", "metric_export_interval_ms"),
]


@pytest.mark.parametrize(("section", "key"), NUMERIC)
@MANY_REJECTED
@given(value=numbers)
def test_every_accepted_number_renders(section: str, key: str, value: float) -> None:
    cfg = accepted(section, key, value)
    assume(cfg is not None)
    assert cfg is not None
    shape(rendered(cfg))
