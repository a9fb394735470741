#!/usr/bin/env bash
# Builds the Pulumi CLI (engine) at PULUMI_VERSION, which must equal the PyPI `pulumi` SDK pin,
# into $STACKKIT_TOOLS/pulumi-<ver>/bin/pulumi. pkg/v3's go.mod replaces sdk/v3 with ../sdk, so
# it is built in a throw-away wrapper module that requires sdk/v3 at the same version and keeps
# pkg's other (non-local) replaces. The version stamp is mandatory: unstamped, the Python
# Automation API cannot parse `pulumi version` and inline refresh/destroy refuse to run.
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$PULUMI_VERSION"
dir="$(tool_dir pulumi "$ver")"
build_once "$dir"

{
  start=$SECONDS
  pkg=github.com/pulumi/pulumi/pkg/v3
  sdk=github.com/pulumi/pulumi/sdk/v3

  wd="$(workdir pulumi)"
  trap 'rm -rf "$wd"' EXIT
  cd "$wd"
  go mod init stackkit.local/pulumi-build

  # pkg's replaces other than local paths (e.g. atotto/clipboard => a fork) must be in the
  # wrapper before resolving, or the build sees different code than upstream releases.
  upstream_mod="$(go mod download -json "$pkg@v$ver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  python3 - "$upstream_mod" >>go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(replace|exclude)\s+(\((?:.|\n)*?^\)|.*)$', text, re.M):
    if "=> ./" in m.group(0) or "=> ../" in m.group(0):
        continue  # local paths exist only in pulumi's own checkout
    print(m.group(0))
PY
  log "pulumi $ver: kept from pkg/v3 go.mod: $(grep -E '^(replace|exclude)' go.mod | tr '\n' ';')"

  log "pulumi $ver: resolving $pkg@v$ver and $sdk@v$ver"
  go get "$pkg/cmd/pulumi@v$ver" "$sdk@v$ver"
  got="$(go list -m -f '{{.Version}}' "$sdk")"
  [[ "$got" == "v$ver" ]] || { log "sdk/v3 resolved to $got, expected v$ver"; exit 1; }

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  log "pulumi $ver: compiling (tags osusergo,grpcnotrace)"
  go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X $sdk/go/common/version.Version=v$ver" \
    -o "$dir/bin/pulumi" "$pkg/cmd/pulumi"

  out="$(PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$wd/home" "$dir/bin/pulumi" version)"
  [[ "$out" == "v$ver" ]] || { log "pulumi version printed '$out', expected v$ver"; exit 1; }
  mark_built "$dir"
  log "pulumi $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
