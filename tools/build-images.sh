#!/usr/bin/env bash
# Builds the stack's images locally, FROM scratch, in the Docker engine that DOCKER_HOST names,
# under exactly the names and tags users run (stackkit/versions.py IMAGES):
#   otelcol    -> stackkit's otelcol-stackkit laid out like otel/opentelemetry-collector-contrib
#   prometheus -> prometheus + promtool built from source, laid out like prom/prometheus
#   alertmanager -> alertmanager + amtool built from source, laid out like prom/alertmanager
#   grafana    -> a TEST PLACEHOLDER (tools/images/grafana-placeholder), not Grafana
# No registry is reachable, so nothing is pulled. An image whose tag already carries the same
# content label (a hash of its whole build context) is left alone, so a warm run takes seconds.
#
# Usage: DOCKER_HOST=unix:///path/docker.sock tools/build-images.sh [otelcol|prometheus|alertmanager|grafana]...
#   (no argument: all four). Binaries come from tools/build-otelcol.sh, tools/build-prometheus.sh
#   and tools/build-alertmanager.sh, or from STACKKIT_OTELCOL_BIN / STACKKIT_PROMETHEUS_BIN /
#   STACKKIT_ALERTMANAGER_BIN (bin dirs).
# Prints each image reference on stdout once it is present; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES_DIR="$TOOLS_REPO/tools/images"
LABEL=org.stackkit.content
export DOCKER_BUILDKIT=0  # the legacy builder needs no buildx plugin and no base image

# IMAGE_<name>=<ref> for every entry of versions.IMAGES (read by path: no install needed).
eval "$(python3 - "$TOOLS_REPO/stackkit/versions.py" <<'PY'
import importlib.util, shlex, sys
spec = importlib.util.spec_from_file_location("stackkit_versions", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
for name, ref in mod.IMAGES.items():
    print(f"IMAGE_{name}={shlex.quote(ref)}")
PY
)"

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(grafana prometheus alertmanager otelcol)
for name in "${wanted[@]}"; do
  case $name in otelcol | prometheus | alertmanager | grafana) ;; *) log "unknown image '$name'"; exit 2 ;; esac
done

command -v docker >/dev/null || { log "docker client not found"; exit 1; }
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  log "no Docker engine answers at DOCKER_HOST=${DOCKER_HOST:-<default>}"
  exit 1
fi

mkdir -p "$STACKKIT_TOOLS"
exec 8>"$STACKKIT_TOOLS/build-images.lock"
flock 8  # two test sessions may ask at once

wd="$(workdir images)"
trap 'rm -rf "$wd"' EXIT

# link_or_copy SRC DEST: hard link when possible (the binaries are large), else copy.
link_or_copy() { ln -f "$1" "$2" 2>/dev/null || cp -p "$1" "$2"; }

# common_rootfs DIR: what every image needs that scratch lacks: /tmp, passwd/group, CA bundle.
common_rootfs() {
  local r="$1/rootfs"
  mkdir -p "$r/tmp" "$r/etc/ssl/certs"
  chmod 1777 "$r/tmp"
  cat >"$r/etc/passwd" <<'PW'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
grafana:x:472:0:grafana:/usr/share/grafana:/sbin/nologin
otel:x:10001:10001:otel:/:/sbin/nologin
PW
  cat >"$r/etc/group" <<'GR'
root:x:0:
nobody:x:65534:
otel:x:10001:
GR
  chmod 0644 "$r/etc/passwd" "$r/etc/group"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
    chmod 0644 "$r/etc/ssl/certs/ca-certificates.crt"
  fi
}

# busybox_tools DIR: busybox with wget and sh, as the upstream Prometheus and Grafana images carry
# (their health checks run `wget`); Debian's static busybox is installed when missing.
busybox_tools() {
  local r="$1/rootfs"
  if [[ ! -x /bin/busybox ]]; then
    log "installing Debian's busybox-static (for wget in the images)"
    "$TOOLS_REPO/tools/apt-install.sh" busybox-static
  fi
  mkdir -p "$r/bin"
  cp /bin/busybox "$r/bin/busybox"
  chmod 0755 "$r/bin/busybox"
  ln -sf busybox "$r/bin/wget"
  ln -sf busybox "$r/bin/sh"
}

# context_hash DIR: one hash over names, types, modes, link targets and file contents.
context_hash() {
  (
    cd "$1"
    find . -printf '%P %y %m %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  ) | sha256sum | cut -c1-64
}

bin_dir_from() { # bin_dir_from ENVVAR SCRIPT: the override, else the build script's stdout
  local override="${!1:-}" script="$TOOLS_REPO/tools/$2"
  if [[ -n $override ]]; then echo "$override"; return; fi
  [[ -f $script ]] || { log "$2 is missing: cannot get the binaries (or set $1)"; return 1; }
  bash "$script" | tail -n1
}

ctx_otelcol() {
  local ctx="$1" bin
  bin="$(bin_dir_from STACKKIT_OTELCOL_BIN build-otelcol.sh)"
  [[ -x $bin/otelcol-stackkit ]] || { log "no otelcol-stackkit in $bin"; return 1; }
  common_rootfs "$ctx"
  link_or_copy "$bin/otelcol-stackkit" "$ctx/otelcol-contrib"
  cp "$IMAGES_DIR/otelcol/Dockerfile" "$IMAGES_DIR/otelcol/config.yaml" "$ctx/"
  chmod 0644 "$ctx/config.yaml"
}

ctx_prometheus() {
  local ctx="$1" bin
  bin="$(bin_dir_from STACKKIT_PROMETHEUS_BIN build-prometheus.sh)"
  [[ -x $bin/prometheus && -x $bin/promtool ]] || { log "no prometheus/promtool in $bin"; return 1; }
  common_rootfs "$ctx"
  busybox_tools "$ctx"
  link_or_copy "$bin/prometheus" "$ctx/prometheus"
  link_or_copy "$bin/promtool" "$ctx/promtool"
  cp "$IMAGES_DIR/prometheus/Dockerfile" "$ctx/"
  # owned/ trees are copied with --chown (see the Dockerfile); their parents exist in rootfs/.
  mkdir -p "$ctx/owned/etc/prometheus" "$ctx/owned/root/prometheus"
  install -m 0644 "$IMAGES_DIR/prometheus/prometheus.yml" "$ctx/owned/etc/prometheus/prometheus.yml"
  chmod 0755 "$ctx/owned/etc" "$ctx/owned/etc/prometheus" "$ctx/owned/root"
  chmod 0775 "$ctx/owned/root/prometheus"
}

ctx_alertmanager() {
  local ctx="$1" bin
  bin="$(bin_dir_from STACKKIT_ALERTMANAGER_BIN build-alertmanager.sh)"
  [[ -x $bin/alertmanager && -x $bin/amtool ]] || { log "no alertmanager/amtool in $bin"; return 1; }
  common_rootfs "$ctx"
  busybox_tools "$ctx"
  link_or_copy "$bin/alertmanager" "$ctx/alertmanager"
  link_or_copy "$bin/amtool" "$ctx/amtool"
  cp "$IMAGES_DIR/alertmanager/Dockerfile" "$ctx/"
  # owned/ trees are copied with --chown (see the Dockerfile); their parents exist in rootfs/.
  mkdir -p "$ctx/owned/etc/alertmanager" "$ctx/owned/root/alertmanager"
  install -m 0644 "$IMAGES_DIR/alertmanager/alertmanager.yml" \
    "$ctx/owned/etc/alertmanager/alertmanager.yml"
  chmod 0755 "$ctx/owned/etc" "$ctx/owned/etc/alertmanager" "$ctx/owned/root"
  chmod 0775 "$ctx/owned/root/alertmanager"
}

# The placeholder binary is cached by source hash and version; Go builds it in seconds.
grafana_placeholder_bin() {
  local src="$IMAGES_DIR/grafana-placeholder" key dir
  key="$( (cat "$src/go.mod" "$src/main.go"; go version) | sha256sum | cut -c1-12)"
  dir="$(tool_dir grafana-placeholder "$GRAFANA_VERSION-$key")"
  if ! is_built "$dir"; then
    log "grafana placeholder: compiling (Go, stdlib only)"
    rm -rf "$dir" && mkdir -p "$dir/bin"
    (cd "$src" && go build -trimpath -ldflags "-s -w -X main.version=$GRAFANA_VERSION" \
      -o "$dir/bin/grafana-placeholder" .) >&2
    mark_built "$dir"
    # Older builds of the placeholder (other sources or versions) are of no further use.
    find "$STACKKIT_TOOLS" -maxdepth 1 -name 'grafana-placeholder-*' ! -path "$dir" -exec rm -rf {} + || true
  fi
  echo "$dir/bin/grafana-placeholder"
}

ctx_grafana() {
  local ctx="$1" bin d
  bin="$(grafana_placeholder_bin)"
  common_rootfs "$ctx"
  busybox_tools "$ctx"
  link_or_copy "$bin" "$ctx/grafana-placeholder"
  cp "$IMAGES_DIR/grafana/Dockerfile" "$ctx/"
  mkdir -p "$ctx/rootfs/etc/grafana" "$ctx/rootfs/usr/share/grafana/bin"
  ln -s /usr/share/grafana/bin/grafana-placeholder "$ctx/rootfs/run.sh"
  cat >"$ctx/rootfs/etc/grafana/grafana.ini" <<'INI'
; stackkit TEST PLACEHOLDER image: this is not Grafana and this file is not read.
; The placeholder takes its settings from GF_* environment variables only.
INI
  chmod 0644 "$ctx/rootfs/etc/grafana/grafana.ini"
  # owned/ trees are copied with --chown=472:0 (see the Dockerfile); their parents exist in rootfs/.
  for d in datasources dashboards notifiers plugins access-control alerting; do
    mkdir -p "$ctx/owned/etc-grafana/provisioning/$d"
  done
  mkdir -p "$ctx/owned/var-lib/grafana/plugins" "$ctx/owned/var-log/grafana" \
    "$ctx/rootfs/var/lib" "$ctx/rootfs/var/log"
  find "$ctx/owned" -mindepth 2 -type d -exec chmod 0777 {} +
  chmod 0755 "$ctx/owned"/* "$ctx/rootfs/var" "$ctx/rootfs/var/lib" "$ctx/rootfs/var/log"
}

status=0
for name in "${wanted[@]}"; do
  ref_var="IMAGE_$name"
  ref="${!ref_var}"
  ctx="$wd/$name"
  mkdir -p "$ctx"
  if ! "ctx_$name" "$ctx"; then
    log "$ref: cannot assemble the build context"
    status=1
    continue
  fi
  hash="$(context_hash "$ctx")"
  have="$(docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$ref" 2>/dev/null || true)"
  if [[ $have == "$hash" ]]; then
    log "$ref: up to date"
  else
    log "$ref: building (FROM scratch)"
    start=$SECONDS
    docker build --quiet --label "$LABEL=$hash" --tag "$ref" "$ctx" >&2
    # Drop the image this one replaced, if nothing else uses it.
    docker image prune --force --filter "label=$LABEL" >/dev/null 2>&1 || true
    log "$ref: built in $((SECONDS - start))s"
  fi
  rm -rf "$ctx"
  echo "$ref"
done
exit $status
