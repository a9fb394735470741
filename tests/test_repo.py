"""git.repo: one set of rules cleans a repository URL, in the shell function (sed) and in the
Collector (OTTL); the real sed gives what the rules say, whatever the URL holds."""

from __future__ import annotations

import string
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stackkit import repo
from stackkit.config import StackConfig
from stackkit.render import render


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("https://github.com/org/app.git", "github.com/org/app"),
        ("https://alice:s3cr3t@git.example.com:8443/org/app.git", "git.example.com/org/app"),
        ("https://x-access-token:ghp_abc@github.com/org/app", "github.com/org/app"),
        ("git@github.com:org/app.git", "github.com/org/app"),
        ("ssh://git@gitlab.example.com:2222/group/sub/app.git", "gitlab.example.com/group/sub/app"),
        ("https://dev.azure.com/org/project/_git/app?version=GBmain#x", "dev.azure.com/org/project/_git/app"),
        ("file:///srv/git/app.git/", "srv/git/app"),
        ("my app (copy)", "my_app__copy_"),
        ("git.example.com/org/$(touch x)`id`'\"", "git.example.com/org/__touch_x__id___"),
        ("a" * 300, "a" * repo.MAX_CHARS),
    ],
)  # fmt: skip
def test_urls_become_host_org_repo_without_credentials(url: str, label: str) -> None:
    assert repo.clean(url) == label


def _sed(value: str) -> str:
    script = f"command sed -E {repo.sed_script()} | command cut -c1-{repo.MAX_CHARS}"
    out = subprocess.run(
        ["sh", "-c", script],
        input=value.encode(),
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    ).stdout
    return out.decode().rstrip("\n")


# One line, as `git remote get-url` prints: any printable ASCII, and tabs.
LINES = st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), max_size=200)


@settings(max_examples=60, deadline=None, database=None)
@given(url=LINES)
def test_the_real_sed_applies_exactly_the_rules(url: str) -> None:
    assert _sed(url) == repo.clean(url)


def test_what_is_left_needs_no_quoting_anywhere() -> None:
    hostile = "https://u:p@h/o/r\t;$(x)`y`'\"\\,=%&|<>*?[]{}~!#"
    assert set(repo.clean(hostile)) <= set(string.ascii_letters + string.digits + "._/-")


def test_the_collector_gets_the_same_rules() -> None:
    statements = repo.ottl_statements("datapoint")
    for pattern, _ in repo.RULES:
        assert sum(f'"{pattern}"' in s for s in statements) == 1, pattern
    # The Collector's config reads ${...} as a variable: a group reference is escaped as $${1}.
    assert all("${1}" not in s.replace("$${1}", "") for s in statements)


def test_dropped_it_is_nowhere() -> None:
    kept = render(StackConfig.model_validate({}))
    dropped = render(StackConfig.model_validate({"attributes": {"repo": "drop"}}))
    for files, present in ((kept, True), (dropped, False)):
        assert (repo.ATTRIBUTE in str(files[Path("otelcol/config.yaml")])) is present
        board = str(files[Path("grafana/dashboards/claude-code-reliability.json")])
        assert ("Top repositories by cost" in board) is present


def test_it_is_not_a_label_of_every_metric() -> None:
    with pytest.raises(ValidationError) as info:
        StackConfig.model_validate({"attributes": {"labels": ["team.id", "git.repo"]}})
    assert "'git.repo' would become the label 'git_repo', which the stack already uses" in str(
        info.value
    )
