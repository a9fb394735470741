"""``git.repo``: the repository a Claude Code launch starts in, as a label value. Pure.

Claude Code sends no repository. The ``claude`` shell function that `stackkit env --repo` prints
reads the origin URL (else the repository folder's name) and stamps it into that launch's
``OTEL_RESOURCE_ATTRIBUTES``; the Collector keeps it on the cost and token metrics only. Both
clean it by the same rules, written once here: the scheme, any ``user:password@`` and query go,
``host:org/repo`` and ``host:port/org/repo`` become ``host/org/repo``, ``.git`` goes, every
character but letters, digits and ``. _ / -`` becomes ``_``, and at most 128 characters stay.
So ``https://user:token@git.example.com:8443/org/repo.git`` is ``git.example.com/org/repo``: a
credential in a URL never becomes a label, and the value needs no quoting anywhere.

Standard library only: the shell function is printed on `stackkit env`'s fast path.
"""

from __future__ import annotations

ATTRIBUTE = "git.repo"
LABEL = "git_repo"
MAX_CHARS = 128
METRICS = ("claude_code.cost.usage", "claude_code.token.usage")
"""The metrics that carry it: what the per-repository leaderboard needs, and no others."""

# (pattern, replacement with \1 for the first group); each pattern is both POSIX extended
# (sed -E) and RE2 (the Collector's OTTL), applied in order.
RULES: tuple[tuple[str, str], ...] = (
    ("^[A-Za-z][A-Za-z0-9+.-]*://", ""),  # the scheme
    ("^/+", ""),  # file:///srv/git/app: no leading slash
    ("^[^/@]*@", ""),  # user:password@ (or git@)
    ("[?#].*$", ""),  # a query or fragment
    ("^([^/:]+):[0-9]*/", r"\1/"),  # host:port/ (and scp's host:/)
    ("^([^/:]+):", r"\1/"),  # scp's host:org/repo
    ("/+$", ""),
    ("[.]git$", ""),
    ("[^A-Za-z0-9._/-]", "_"),
)


def sed_script() -> str:
    """The rules as ``sed -E`` arguments (each in single quotes, ``|`` as the delimiter)."""
    for pattern, replacement in RULES:
        assert "|" not in pattern + replacement and "'" not in pattern + replacement
    return " ".join(f"-e 's|{p}|{r}|g'" for p, r in RULES)


def ottl_statements(context: str) -> list[str]:
    """The rules as OTTL statements on ``<context>.attributes["git.repo"]``."""
    target = f'{context}.attributes["{ATTRIBUTE}"]'
    out = []
    for pattern, replacement in RULES:
        go = replacement.replace("\\1", "$${1}")  # $$ is a literal $ in the Collector's config
        out.append(f'replace_pattern({target}, "{pattern}", "{go}") where {target} != nil')
    out.append(
        f"set({target}, Substring({target}, 0, {MAX_CHARS}))"
        f" where {target} != nil and Len({target}) > {MAX_CHARS}"
    )
    out.append(f'delete_key({context}.attributes, "{ATTRIBUTE}") where {target} == ""')
    return out


def clean(url: str) -> str:
    """What the rules make of ``url`` (the reference the shell and Collector tests compare to)."""
    import re

    for pattern, replacement in RULES:
        url = re.sub(pattern, replacement, url)
    return url[:MAX_CHARS]
