#!/usr/bin/env bash
# Builds Thanos (one `thanos` binary: receive, query, store, ...) at THANOS_VERSION from the Go module
# github.com/thanos-io/thanos, into $STACKKIT_TOOLS/thanos-<ver>/bin. The tests run it as a
# horizontally scalable Prometheus-compatible backend: `thanos receive` nodes on a hashring take
# remote write, `thanos query` serves the Prometheus HTTP API over all of them.
# Thanos' go.mod has replace directives (forks of gomemcache, galaxycache, kingpin, ...), so
# `go install pkg@version` fails: a throw-away wrapper module copies them. Build tags are upstream's
# (.promu.yml): netgo, slicelabels (its gRPC codec is written for slice labels).
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$THANOS_VERSION"
dir="$(tool_dir thanos "$ver")"
build_once "$dir"

{
  start=$SECONDS
  mod=github.com/thanos-io/thanos
  modver="v$ver"

  wd="$(workdir thanos)"
  trap 'rm -rf "$wd"' EXIT
  cd "$wd"
  go mod init stackkit.local/thanos-build
  # Thanos' own replace/exclude directives (a dependency's are ignored), written before `go get` so
  # the resolution honours them; local paths exist only in its checkout and are left out.
  upstream_mod="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  python3 - "$upstream_mod" >>go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(replace|exclude)\s+(\((?:.|\n)*?^\)|.*)$', text, re.M):
    kind, body = m.group(1), m.group(2)
    entries = body[1:-1].splitlines() if body.startswith("(") else [body]
    for entry in entries:
        entry = entry.strip()
        if entry and not entry.startswith("//") and "=> ./" not in entry and "=> ../" not in entry:
            print(f"{kind} {entry}")
PY
  log "thanos $ver: resolving $mod@$modver"
  go get "$mod/cmd/thanos@$modver"

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$ver"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$modver"
  ldflags+=" -X github.com/prometheus/common/version.Branch=$modver"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=stackkit"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  log "thanos $ver: compiling thanos"
  go build -trimpath -tags netgo,slicelabels -ldflags "$ldflags" -o "$dir/bin/" "$mod/cmd/thanos"

  src="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  install -m 0644 "$src/LICENSE" "$dir/LICENSE"

  "$dir/bin/thanos" --version
  check_version thanos "version ${ver//./\\.} " "$dir/bin/thanos" --version
  mark_built "$dir"
  log "thanos $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
