#!/usr/bin/env bash
# Builds the Prometheus Operator's `operator` and `prometheus-config-reloader` at
# PROMETHEUS_OPERATOR_VERSION from the Go module github.com/prometheus-operator/prometheus-operator,
# into $STACKKIT_TOOLS/prometheus-operator-<ver>/bin, and copies the module's CRDs beside it:
#   crds/       example/prometheus-operator-crd/       (what the operator's bundle.yaml installs)
#   crds-full/  example/prometheus-operator-crd-full/  (adds AlertmanagerConfig v1beta1, which
#                                                      needs the conversion webhook)
# The module's go.mod replaces its two sub-modules (pkg/apis/monitoring, pkg/client) with local
# paths, so `go install pkg@version` fails: a throw-away wrapper module takes the published
# sub-modules at the same version instead (so the pin must be a version the module proxy serves
# for all three modules; pkg/client is missing for some releases).
# Outside a cluster the operator reads KUBECONFIG from the environment (it has no --kubeconfig).
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$PROMETHEUS_OPERATOR_VERSION"
dir="$(tool_dir prometheus-operator "$ver")"
build_once "$dir"

{
  start=$SECONDS
  mod=github.com/prometheus-operator/prometheus-operator
  modver="v$ver"

  wd="$(workdir prometheus-operator)"
  trap 'rm -rf "$wd"' EXIT
  cd "$wd"
  go mod init stackkit.local/prometheus-operator-build
  # Keep replace/exclude directives of the operator's own go.mod except its local paths (written
  # before `go get`, so the resolution honours them).
  upstream_mod="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  python3 - "$upstream_mod" >>go.mod <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^(replace|exclude)\s+(\((?:.|\n)*?^\)|.*)$', text, re.M):
    kind, body = m.group(1), m.group(2)
    entries = body[1:-1].splitlines() if body.startswith("(") else [body]
    keep = [e.strip() for e in entries
            if e.strip() and not e.strip().startswith("//") and "=> ./" not in e and "=> ../" not in e]
    for entry in keep:  # local paths exist only in the operator's own checkout
        print(f"{kind} {entry}")
PY
  log "prometheus-operator $ver: resolving $mod@$modver"
  go get "$mod/cmd/operator@$modver" "$mod/cmd/prometheus-config-reloader@$modver" \
    "$mod/pkg/apis/monitoring@$modver" "$mod/pkg/client@$modver"

  src="$(go mod download -json "$mod@$modver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"

  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/crds" "$dir/crds-full"
  ldflags="-s -w"
  ldflags+=" -X github.com/prometheus/common/version.Version=$ver"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$modver"
  ldflags+=" -X github.com/prometheus/common/version.Branch=$modver"
  ldflags+=" -X github.com/prometheus/common/version.BuildUser=stackkit"
  ldflags+=" -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  log "prometheus-operator $ver: compiling operator and prometheus-config-reloader"
  go build -trimpath -ldflags "$ldflags" -o "$dir/bin/" \
    "$mod/cmd/operator" "$mod/cmd/prometheus-config-reloader"

  install -m 0644 "$src"/example/prometheus-operator-crd/*.yaml "$dir/crds/"
  install -m 0644 "$src"/example/prometheus-operator-crd-full/*.yaml "$dir/crds-full/"
  install -m 0644 "$src/LICENSE" "$dir/LICENSE"
  log "prometheus-operator $ver: copied $(ls "$dir/crds" | wc -l) CRDs into $dir/crds"

  for bin in operator prometheus-config-reloader; do
    "$dir/bin/$bin" --version && echo  # it prints no final newline
    [[ "$("$dir/bin/$bin" --short-version)" == "$ver" ]] \
      || { log "$bin --short-version does not print $ver"; exit 1; }
  done
  mark_built "$dir"
  log "prometheus-operator $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
