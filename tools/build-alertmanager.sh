#!/usr/bin/env bash
# Builds alertmanager and amtool at ALERTMANAGER_VERSION (Go module github.com/prometheus/alertmanager
# v0.X.Y, Apache-2.0) into $STACKKIT_TOOLS/alertmanager-<ver>/bin. The module embeds its web UI
# from ui/app/dist, which npm builds and the module zip does not carry: the module is copied out
# of the module cache and given a one-page placeholder there (as Prometheus without builtinassets,
# the UI pages are absent; every API, /-/ready and /-/healthy work). Tags as upstream (.promu.yml).
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$ALERTMANAGER_VERSION"
dir="$(tool_dir alertmanager "$ver")"
build_once "$dir"

{
  start=$SECONDS
  mod=github.com/prometheus/alertmanager
  modver="v$ver"

  wd="$(workdir alertmanager)"
  trap 'chmod -R u+w "$wd" 2>/dev/null; rm -rf "$wd"' EXIT
  cd "$wd"
  log "alertmanager $ver: fetching $mod@$modver"
  src="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$src" "$wd/src"
  chmod -R u+w "$wd/src"
  for ui in elm mantine; do
    mkdir -p "$wd/src/ui/app/dist/$ui"
    cat >"$wd/src/ui/app/dist/$ui/index.html" <<'HTML'
<!doctype html><title>Alertmanager</title>
<p>This Alertmanager was built without its web UI (stackkit builds it offline). The API at
/api/v2/ and amtool work.</p>
HTML
  done

  mkdir -p "$wd/wrap"
  cd "$wd/wrap"
  go mod init stackkit.local/alertmanager-build
  go mod edit -replace "$mod=../src"
  go mod edit -require "$mod@$modver"
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "github.com/prometheus/alertmanager/cmd/alertmanager"
	_ "github.com/prometheus/alertmanager/cmd/amtool"
)
GO
  # The module's own go.mod fixes every dependency's version (it has no replace or exclude).
  log "alertmanager $ver: resolving its dependencies"
  go mod tidy

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$ver"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$modver"
  ldflags+=" -X github.com/prometheus/common/version.Branch=$modver"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=stackkit"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  log "alertmanager $ver: compiling alertmanager and amtool"
  go build -trimpath -tags netgo -ldflags "$ldflags" -o "$dir/bin/" \
    "$mod/cmd/alertmanager" "$mod/cmd/amtool"

  install -m 0644 "$src/LICENSE" "$dir/LICENSE"
  check_version amtool "version ${ver//./\\.} " "$dir/bin/amtool" --version
  check_version alertmanager "version ${ver//./\\.} " "$dir/bin/alertmanager" --version
  mark_built "$dir"
  log "alertmanager $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
