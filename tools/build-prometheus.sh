#!/usr/bin/env bash
# Builds prometheus and promtool at PROMETHEUS_VERSION (Go module github.com/prometheus/prometheus
# v0.3XX.Y mirrors release 3.XX.Y) in a throw-away wrapper module, into
# $STACKKIT_TOOLS/prometheus-<ver>/bin. Without the builtinassets tag the web UI pages are absent;
# every API, /-/ready, remote-write and OTLP ingestion work. Of the service discoveries only DNS
# and Kubernetes are compiled in: stackkit's Prometheus finds Collector replicas by DNS, and the
# Prometheus Operator's (the same image) finds ServiceMonitor targets through the Kubernetes API.
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$PROMETHEUS_VERSION"
tags=netgo,remove_all_sd,enable_dns_sd,enable_kubernetes_sd
dir="$(tool_dir prometheus "$ver+dns+k8s")"
build_once "$dir"

{
  start=$SECONDS
  # 3.16.0 -> v0.316.0
  IFS=. read -r major minor patch <<<"$ver"
  modver="v0.$((major * 100 + minor)).$patch"
  mod=github.com/prometheus/prometheus

  wd="$(workdir prometheus)"
  trap 'rm -rf "$wd"' EXIT
  cd "$wd"
  go mod init stackkit.local/prometheus-build
  log "prometheus $ver: resolving $mod@$modver"
  go get "$mod/cmd/prometheus@$modver" "$mod/cmd/promtool@$modver"

  # Keep any replace/exclude directives of prometheus' own go.mod (a dependency's are ignored).
  upstream_mod="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  python3 - "$upstream_mod" >>go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(replace|exclude)\s+(\((?:.|\n)*?^\)|.*)$', text, re.M):
    if "=> ./" in m.group(0) or "=> ../" in m.group(0):
        continue  # local paths exist only in prometheus' own checkout
    print(m.group(0))
PY

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$ver"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$modver"
  ldflags+=" -X github.com/prometheus/common/version.Branch=$modver"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=stackkit"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  log "prometheus $ver: compiling prometheus and promtool"
  go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$dir/bin/" \
    "$mod/cmd/prometheus" "$mod/cmd/promtool"

  "$dir/bin/promtool" --version
  check_version prometheus "version ${ver//./\\.} " "$dir/bin/prometheus" --version
  mark_built "$dir"
  log "prometheus $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
