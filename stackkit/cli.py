"""The command line: parse flags, call one domain function, print. Nothing else lives here."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar, cast

import typer
from typer.core import TyperOption

from .errors import ConfigError, StackkitError, StackkitWarning

app = typer.Typer(
    help="A Claude Code monitoring stack (OpenTelemetry Collector, Prometheus, Grafana).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """A flag takes no value, so its help row shows no type (typer 0.29 shows ``<bool>``
    beside every flag, ``--help`` included, as if it took one)."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]

ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional at runtime on 3.11
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: ./stackkit.yaml if present, else built-in defaults).",
    ),
]
TargetOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--target", "-t", help="docker or kubernetes (overrides the config)."),
]


def say(message: str) -> None:
    """Progress and results for people: stderr, so stdout stays data."""
    typer.echo(message, err=True)


def handle_errors(fn: F) -> F:
    """Turn a StackkitError into its message on stderr and its exit code; warnings to stderr."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("always", StackkitWarning)  # state.py says each once
            shown = warnings.showwarning

            def show(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
                if issubclass(category, StackkitWarning):
                    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)
                else:
                    shown(message, category, *rest, **kw)

            warnings.showwarning = show
            try:
                _require_cwd()
                return fn(*args, **kwargs)
            except StackkitError as e:
                typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
                raise typer.Exit(e.exit_code) from None

    # functools.wraps keeps fn's signature for Typer; mypy cannot see that wrapper is an F.
    return cast(F, wrapper)


def _require_cwd() -> None:
    try:
        os.getcwd()
    except OSError:
        raise StackkitError(
            "the current folder no longer exists: cd to an existing folder and run again"
        ) from None


def _load(config: Path | None, target: str | None = None) -> Any:
    from .config import load_config

    return load_config(config, target=target)


@app.command()
@handle_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path(
        "stackkit.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter stackkit.yaml."""
    from .starter import STARTER

    if path.exists() and not force:
        raise StackkitError(f"{path} already exists; use --force to overwrite it")
    try:
        path.write_text(STARTER, encoding="utf-8")
    except OSError as e:
        raise StackkitError(f"cannot write {path}: {e.strerror or e}") from None
    say(f"wrote {path}; edit it, then run: stackkit render -c {path} -o out")


@app.command()
def schema() -> None:
    """Print the JSON Schema of stackkit.yaml (for editor completion and checks)."""
    from .config import json_schema

    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@app.command()
@handle_errors
def render(
    out: Annotated[str, typer.Option("--out", "-o", help="Output directory.")],
    config: ConfigOpt = None,
    target: TargetOpt = None,
) -> None:
    """Render the Collector, Prometheus and Grafana configuration into a directory."""
    from .output import output_folder, write
    from .render import render as render_files

    folder = output_folder(out)
    cfg = _load(config, target)
    files = render_files(cfg)
    changes = write(files, folder)
    changed = len(changes.created) + len(changes.updated) + len(changes.removed)
    if changes.recovered:
        say(f"undid an interrupted earlier render in {out}")
    say(f"rendered {len(files)} files into {out} ({changed} changed)")
    for verb, names in (
        ("created", changes.created),
        ("updated", changes.updated),
        ("removed", changes.removed),
        ("kept", changes.kept),
    ):
        for name in names:
            say(f"  {verb} {name}")
    for entry in changes.ignored:
        say(f"warning: ignored .stackkit-files entry {entry}")


@app.command()
@handle_errors
def env(
    config: ConfigOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "--shell",
            "-f",
            help="bash, zsh, fish, powershell, dotenv, json (settings.json env block) or "
            "managed-settings.",
        ),
    ] = "bash",
    protocol: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--protocol", help="grpc or http/protobuf (default: from the config)."),
    ] = None,
    endpoint: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--endpoint", help="OTLP URL to use instead of the stack's."),
    ] = None,
    attr: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--attr", "-a", help="Resource attribute KEY=VALUE, e.g. team.id=platform."),
    ] = None,
    repo: Annotated[
        bool,
        typer.Option(
            "--repo",
            help="Also define a claude shell function (bash, zsh, fish) that sends the git "
            "repository each launch starts in as git.repo (cost by repository).",
        ),
    ] = False,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Neither read nor write the cache of this answer."),
    ] = False,
) -> None:
    """Print what Claude Code needs to report to the stack: eval "$(stackkit env)"."""
    from . import envcache
    from .endpoint import client_settings, resolve_endpoint
    from .env import FORMATS, env_vars, format_env
    from .shells import CLAUDE_FUNCTION_FORMATS
    from .state import TOKEN_FILE, stack_dir

    if fmt not in FORMATS:
        raise ConfigError("--format", [f"{fmt!r} is not one of {', '.join(FORMATS)}"])
    if repo and fmt not in CLAUDE_FUNCTION_FORMATS:
        raise ConfigError(
            "--repo",
            [
                f"a claude function needs --format bash, zsh or fish, not {fmt}: elsewhere set "
                "git.repo per launch with --attr git.repo=host/org/repo"
            ],
        )
    attributes = dict(_parse_attr(a) for a in attr or [])
    cfg = _load(config)
    ep = resolve_endpoint(cfg, protocol, endpoint)
    variables = env_vars(ep, client_settings(cfg, attributes))
    sys.stdout.write(format_env(variables, fmt, repo_function=repo))
    if ep.note:
        say(f"warning: {ep.note}")
    if no_cache or ep.note or sys.argv[1:2] != ["env"]:
        # Asked not to; a warning to repeat each time; or called in-process (tests).
        return
    if ep.token:
        variables["OTEL_EXPORTER_OTLP_HEADERS"] = (
            f"Authorization=Bearer {envcache.TOKEN_PLACEHOLDER}"
        )
    config_file = config or Path("stackkit.yaml")
    auth = cfg.collector.auth
    ca_file = cfg.collector.tls.ca_file
    envcache.store(
        sys.argv[2:],
        variables,
        fmt,
        repo,
        deps=[
            config_file,
            stack_dir(cfg.name) / "outputs.json",
            *([ca_file] if ca_file else []),
        ],
        token_env=auth.token_env if auth.enabled else None,
        token_file=stack_dir(cfg.name) / TOKEN_FILE if auth.enabled else None,
    )


def _parse_attr(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError("--attr", [f"{text!r}: expected KEY=VALUE, e.g. team.id=platform"])
    return key, value


def _summary(changes: dict[str, int]) -> str:
    done = {op: n for op, n in changes.items() if op != "same" and n}
    if not done:
        return "no changes"
    return ", ".join(f"{n} {op}" for op, n in sorted(done.items()))


@app.command()
@handle_errors
def up(
    config: ConfigOpt = None,
    target: TargetOpt = None,
    adopt_volumes: Annotated[
        bool,
        typer.Option(
            "--adopt-volumes",
            help="Take over data volumes of the stack's names that another state folder (or a "
            "person) made: this stack uses them, and `down --purge` deletes them.",
        ),
    ] = False,
) -> None:
    """Deploy the stack (local Docker by default) and print where everything is."""
    from . import deploy

    cfg = _load(config, target)
    say(f"deploying stack {cfg.name} to {cfg.target}")
    if cfg.target == "docker" and cfg.docker.bind_address not in ("127.0.0.1", "::1", "localhost"):
        say(
            f"warning: docker.bind_address {cfg.docker.bind_address}: Grafana, Prometheus and the "
            "Collector are reachable from the network; each checks a credential (the Collector "
            "its token, Prometheus `stackkit secret prometheus-password`, Grafana its admin "
            "password), and nothing is encrypted unless collector.tls is set"
        )
    result = deploy.up(cfg, progress=say, adopt_volumes=adopt_volumes)
    say(f"done: {_summary(result.changes)}")
    out = result.outputs
    say(
        f"  Grafana:            {out['grafana_url']}  (user {cfg.grafana.admin_user}; "
        "`stackkit secret grafana-password` shows the password)"
    )
    say(f"  Prometheus:         {out['prometheus_url']}")
    if "alertmanager_url" in out:
        login = "  (Prometheus' user and password)" if cfg.target == "docker" else ""
        say(f"  Alertmanager:       {out['alertmanager_url']}{login}")
    for protocol, url in sorted(out.get("otlp_endpoints", {}).items()):
        say(f"  OTLP {protocol + ':':<15}{url}")
    say('next: eval "$(stackkit env)"   # then start claude in that shell')


@app.command()
@handle_errors
def preview(config: ConfigOpt = None, target: TargetOpt = None) -> None:
    """Show what `stackkit up` would change, without changing anything."""
    from . import deploy

    cfg = _load(config, target)
    result = deploy.preview(cfg, progress=say)
    say(f"up would make: {_summary(result.changes)}")


@app.command()
@handle_errors
def down(
    config: ConfigOpt = None,
    target: TargetOpt = None,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge", help="Also delete the data volumes (all metrics and dashboards state)."
        ),
    ] = False,
) -> None:
    """Remove the containers and network; data volumes stay unless --purge."""
    from . import deploy

    cfg = _load(config, target)
    result = deploy.down(cfg, purge=purge, progress=say)
    kept = "" if purge else "; data volumes kept (use --purge to delete them)"
    say(f"removed stack {cfg.name}: {_summary(result.changes)}{kept}")


@app.command("secret")
@handle_errors
def show_secret(
    name: Annotated[
        str, typer.Argument(help="grafana-password, prometheus-password or otlp-token")
    ],
    config: ConfigOpt = None,
    target: TargetOpt = None,
) -> None:
    """Print a generated secret (only when asked: it is never shown otherwise)."""
    from .endpoint import otlp_token

    cfg = _load(config, target)
    if name == "grafana-password":
        from .deploy import grafana_password

        typer.echo(grafana_password(cfg))
    elif name == "prometheus-password":
        from .model import PROMETHEUS_READER_USER, prometheus_protected
        from .prometheus_auth import reader_password

        if not prometheus_protected(cfg):
            raise StackkitError(
                "this stack's Prometheus asks for no password (only the Docker target's does)"
            )
        say(f"user {PROMETHEUS_READER_USER}; the password:")
        typer.echo(reader_password(cfg.name))
    elif name == "otlp-token":
        token = otlp_token(cfg)
        if token is None:
            raise StackkitError("authentication is off (collector.auth.enabled: false)")
        typer.echo(token)
    else:
        raise StackkitError(
            f"unknown secret {name!r}: choose grafana-password, prometheus-password or otlp-token"
        )


@app.command()
@handle_errors
def status(config: ConfigOpt = None, target: TargetOpt = None) -> None:
    """Each component's health, the URLs, and when telemetry last arrived."""
    from .status import status as look

    cfg = _load(config, target)
    report = look(cfg)
    if report.problem:
        raise StackkitError(report.problem)
    if not report.deployed:
        raise StackkitError(f"stack {cfg.name} is not deployed: run `stackkit up`")
    names = [key.removesuffix("_url") for key in report.urls]
    width = max([11, *(len(c.name) for c in report.components), *map(len, names)])
    for c in report.components:
        answer = "answering" if c.answering else "NOT answering"
        typer.echo(f"{c.name:<{width}} {c.state:<9} {c.health:<10} {answer}")
    for key, url in sorted(report.urls.items()):
        typer.echo(f"{key.removesuffix('_url'):<{width}} {url}")
    age = report.last_telemetry_age_s
    if report.telemetry_unknown:
        typer.echo(f"{'telemetry':<{width}} unknown: {report.telemetry_unknown}")
    elif age is None:
        typer.echo(f"{'telemetry':<{width}} none in the last day")
    else:
        typer.echo(f"{'telemetry':<{width}} last arrived {age:.0f}s ago")
    if not report.healthy:
        raise typer.Exit(1)


@app.command()
@handle_errors
def verify(
    config: ConfigOpt = None,
    target: TargetOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Prometheus.")] = 90.0,
) -> None:
    """Send a synthetic data point with this shell's settings and find it in Prometheus."""
    import os

    from .state import read_outputs
    from .verify import verify as check

    cfg = _load(config, target)
    if cfg.target == "kubernetes":
        from .kube_status import prometheus_fetch
        from .preflight import cluster

        prometheus: Any = prometheus_fetch(cfg, cluster(cfg))
    else:
        from .prom_client import at
        from .prometheus_auth import reader_authorization

        outputs = read_outputs(cfg.name) or {}
        url = outputs.get("prometheus_url") or f"http://localhost:{cfg.prometheus.port}"
        prometheus = at(url, reader_authorization(cfg.name))
    check(os.environ, prometheus, say, timeout=timeout)
    say("verified: Claude Code in this shell reaches the stack")
