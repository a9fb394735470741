"""The test Docker engine and the locally built images behave as the stack needs.

A real dockerd (tests/fixtures/docker.py) runs the images tools/build-images.sh built FROM
scratch under the names users run: a user-defined bridge network with container DNS, a named
volume, bind-mounted files and ports published on 127.0.0.1 all work, Prometheus answers its
HTTP API and scrapes another container by name, and the Grafana test placeholder answers
/api/health like Grafana, checks basic auth and serves back the files mounted where Grafana
reads its provisioning and dashboards.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

# Also listed by tests/conftest.py; naming it here keeps this file runnable on its own.


REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "_stackkit_versions_test_docker", REPO / "stackkit" / "versions.py"
)
versions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(versions)


def http_get(
    url: str, auth: tuple[str, str] | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_http(url: str, timeout: float = 30, **kw) -> bytes:
    """GET until 200 (the container may still be starting)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url, **kw)
            if status == 200:
                return body
            last = (status, body[:200])
        except OSError as err:  # refused / reset while the server starts
            last = err
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {timeout}s: {last}")


@pytest.fixture
def resources(docker_engine):
    """Collects what a test creates on the shared engine and removes it afterwards."""
    made: dict[str, list[str]] = {"container": [], "network": [], "volume": []}
    yield made
    if made["container"]:
        docker_engine.docker("rm", "-f", "-v", *made["container"], check=False)
    for net in made["network"]:
        docker_engine.docker("network", "rm", net, check=False)
    for vol in made["volume"]:
        docker_engine.docker("volume", "rm", vol, check=False)


def image_files(docker_engine, ref: str) -> dict[str, tarfile.TarInfo]:
    """Every path of an image's filesystem (exported from a created, never started container)."""
    cid = docker_engine.docker("create", ref).stdout.strip()
    try:
        proc = subprocess.run(
            ["docker", "export", cid],
            env=docker_engine.env,
            capture_output=True,
            check=True,
            timeout=120,
        )
    finally:
        docker_engine.docker("rm", cid, check=False)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_engine_answers_on_its_own_socket(docker_engine):
    assert docker_engine.host.startswith("unix://")
    assert docker_engine.env["DOCKER_HOST"] == docker_engine.host
    info = json.loads(docker_engine.docker("info", "--format", "{{json .}}").stdout)
    assert info["ServerVersion"]
    if docker_engine.data_root:
        assert info["DockerRootDir"] == str(docker_engine.data_root)


def test_images_are_local_builds_under_the_users_names(docker_engine):
    assert docker_engine.images == versions.IMAGES
    configs = {
        name: docker_engine.inspect(ref, kind="image")[0]["Config"]
        for name, ref in versions.IMAGES.items()
    }
    for name, cfg in configs.items():
        assert cfg["Labels"]["org.stackkit.content"], name

    otel = configs["otelcol"]
    assert otel["Entrypoint"] == ["/otelcol-contrib"]
    assert otel["Cmd"] == ["--config", "/etc/otelcol-contrib/config.yaml"]
    assert otel["User"] == "10001:10001"

    prom = configs["prometheus"]
    assert prom["Entrypoint"] == ["/bin/prometheus"]
    assert prom["Cmd"] == [
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
    ]
    assert prom["User"] == "65534:65534"
    assert "/prometheus" in prom["Volumes"]
    assert "9090/tcp" in prom["ExposedPorts"]

    am = configs["alertmanager"]
    assert am["Entrypoint"] == ["/bin/alertmanager"]
    assert am["Cmd"] == [
        "--config.file=/etc/alertmanager/alertmanager.yml",
        "--storage.path=/alertmanager",
    ]
    assert am["User"] == "65534:65534"
    assert "/alertmanager" in am["Volumes"]
    assert "9093/tcp" in am["ExposedPorts"]

    graf = configs["grafana"]
    assert graf["Labels"]["org.stackkit.placeholder"] == "true"
    assert graf["Entrypoint"] == ["/run.sh"]
    assert graf["User"] == "472"
    assert "GF_PATHS_PROVISIONING=/etc/grafana/provisioning" in graf["Env"]


def test_images_have_tmp_and_a_non_root_layout(docker_engine):
    expect = {
        "otelcol": {"otelcol-contrib": None, "etc/otelcol-contrib/config.yaml": None},
        "prometheus": {
            "bin/prometheus": None,
            "bin/promtool": None,
            "etc/prometheus/prometheus.yml": 65534,
            "prometheus": 65534,
        },
        "alertmanager": {
            "bin/alertmanager": None,
            "bin/amtool": None,
            "bin/wget": None,
            "etc/alertmanager/alertmanager.yml": 65534,
            "alertmanager": 65534,
        },
        "grafana": {
            "run.sh": None,
            "etc/grafana/provisioning/dashboards": 472,
            "var/lib/grafana": 472,
        },
    }
    for name, ref in versions.IMAGES.items():
        files = image_files(docker_engine, ref)
        tmp = files["tmp"]
        assert tmp.isdir() and tmp.mode & 0o7777 == 0o1777, (name, oct(tmp.mode))
        assert "etc/passwd" in files and "etc/ssl/certs/ca-certificates.crt" in files, name
        for path, owner in expect[name].items():
            assert path in files, (name, path)
            if owner is not None:
                assert files[path].uid == owner, (name, path, files[path].uid)


def test_prometheus_on_a_bridge_network_with_a_volume_scrapes_a_container_by_name(
    docker_engine, resources, tmp_path
):
    net = docker_engine.unique("stackkit-test-net")
    vol = docker_engine.unique("stackkit-test-data")
    graf = docker_engine.unique("stackkit-test-grafana")
    prom = docker_engine.unique("stackkit-test-prometheus")
    docker_engine.docker("network", "create", "--driver", "bridge", net)
    resources["network"].append(net)
    docker_engine.docker("volume", "create", vol)
    resources["volume"].append(vol)

    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        "    static_configs: [{targets: ['localhost:9090']}]\n"
        "  - job_name: grafana\n"
        f"    static_configs: [{{targets: ['{graf}:3000']}}]\n"
    )
    config.chmod(0o644)

    resources["container"].append(graf)
    docker_engine.docker("run", "-d", "--name", graf, "--network", net, versions.IMAGES["grafana"])
    resources["container"].append(prom)
    docker_engine.docker(
        "run",
        "-d",
        "--name",
        prom,
        "--network",
        net,
        "-p",
        "127.0.0.1::9090",
        "-v",
        f"{vol}:/prometheus",
        "-v",
        f"{config}:/etc/prometheus/prometheus.yml:ro",
        versions.IMAGES["prometheus"],
        # the image's default arguments, plus what the stack turns on
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--web.enable-otlp-receiver",
    )
    host, port = docker_engine.host_port(prom, "9090/tcp")
    assert host == "127.0.0.1"
    base = f"http://{host}:{port}"
    wait_http(f"{base}/-/ready", timeout=60)

    build = json.loads(wait_http(f"{base}/api/v1/status/buildinfo"))
    assert build["data"]["version"] == versions.PROMETHEUS_VERSION

    query = urllib.parse.quote('up{job="grafana"} == 1 and on() grafana_build_info')
    deadline = time.monotonic() + 45
    result: list = []
    while time.monotonic() < deadline and not result:
        body = json.loads(wait_http(f"{base}/api/v1/query?query={query}"))
        assert body["status"] == "success"
        result = body["data"]["result"]
        time.sleep(0.5)
    assert result, "Prometheus never scraped the placeholder over the bridge network by its name"
    info = json.loads(wait_http(f"{base}/api/v1/query?query=grafana_build_info"))["data"]["result"]
    assert info[0]["metric"]["version"] == versions.GRAFANA_VERSION

    mounts = {m["Destination"]: m for m in docker_engine.inspect(prom)[0]["Mounts"]}
    assert mounts["/prometheus"]["Type"] == "volume" and mounts["/prometheus"]["Name"] == vol
    # Prometheus, running as nobody, wrote its TSDB into the named volume.
    docker_engine.docker("stop", prom, timeout=60)
    vol_path = Path(docker_engine.inspect(vol, kind="volume")[0]["Mountpoint"])
    assert (vol_path / "wal").is_dir(), sorted(p.name for p in vol_path.iterdir())


def test_grafana_placeholder_health_auth_and_mounted_files(docker_engine, resources, tmp_path):
    prov = tmp_path / "provisioning"
    (prov / "datasources").mkdir(parents=True)
    datasource = "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n"
    (prov / "datasources" / "prometheus.yaml").write_text(datasource)
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    dashboard = json.dumps({"title": "stackkit smoke", "panels": []})
    (dashboards / "smoke.json").write_text(dashboard)
    for p in [prov, prov / "datasources", dashboards]:
        p.chmod(0o755)

    name = docker_engine.unique("stackkit-test-grafana")
    resources["container"].append(name)
    docker_engine.docker(
        "run",
        "-d",
        "--name",
        name,
        "-p",
        "127.0.0.1::3000",
        "-e",
        "GF_SECURITY_ADMIN_USER=root-of-all",
        "-e",
        "GF_SECURITY_ADMIN_PASSWORD=s3cret",
        "-v",
        f"{prov}:/etc/grafana/provisioning:ro",
        "-v",
        f"{dashboards}:/var/lib/grafana/dashboards:ro",
        versions.IMAGES["grafana"],
    )
    host, port = docker_engine.host_port(name, "3000/tcp")
    base = f"http://{host}:{port}"

    health = json.loads(wait_http(f"{base}/api/health"))
    assert health["database"] == "ok"
    assert health["version"] == versions.GRAFANA_VERSION

    assert http_get(f"{base}/api/user")[0] == 401
    assert http_get(f"{base}/api/user", auth=("admin", "admin"))[0] == 401
    status, body = http_get(f"{base}/api/user", auth=("root-of-all", "s3cret"))
    assert status == 200 and json.loads(body)["login"] == "root-of-all"

    auth = ("root-of-all", "s3cret")
    listing = json.loads(wait_http(f"{base}/stackkit/files/", auth=auth))["files"]
    assert "/etc/grafana/provisioning/datasources/prometheus.yaml" in listing
    assert "/var/lib/grafana/dashboards/smoke.json" in listing
    got = wait_http(
        f"{base}/stackkit/files/etc/grafana/provisioning/datasources/prometheus.yaml", auth=auth
    )
    assert got.decode() == datasource
    got = wait_http(f"{base}/stackkit/files/var/lib/grafana/dashboards/smoke.json", auth=auth)
    assert json.loads(got) == json.loads(dashboard)
    assert http_get(f"{base}/stackkit/files/etc/passwd", auth=auth)[0] == 403

    # It stops promptly on SIGTERM (PID 1 in a scratch image has no default signal handling).
    start = time.monotonic()
    docker_engine.docker("stop", name, timeout=60)
    assert time.monotonic() - start < 8


def test_collector_image_runs_its_default_config(docker_engine, resources):
    name = docker_engine.unique("stackkit-test-otelcol")
    resources["container"].append(name)
    docker_engine.docker(
        "run", "-d", "--name", name, "-p", "127.0.0.1::13133", versions.IMAGES["otelcol"]
    )
    host, port = docker_engine.host_port(name, "13133/tcp")
    health = json.loads(wait_http(f"http://{host}:{port}/", timeout=60))
    assert health["status"] == "Server available"
    version = docker_engine.docker("run", "--rm", versions.IMAGES["otelcol"], "--version").stdout
    assert versions.OTELCOL_VERSION in version
