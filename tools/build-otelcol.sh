#!/usr/bin/env bash
# Builds the OpenTelemetry Collector distribution `otelcol-stackkit` from tools/otelcol/manifest.yaml
# with the collector builder (ocb) at OTELCOL_VERSION, into $STACKKIT_TOOLS/otelcol-<ver>/bin.
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$OTELCOL_VERSION"
dir="$(tool_dir otelcol "$ver")"
# The manifest without comments and blank lines, version filled in.
manifest="$(sed -e "s|@OTELCOL_VERSION@|$ver|g" "$TOOLS_REPO/tools/otelcol/manifest.yaml" | grep -vE '^[[:space:]]*(#|$)')"
# Complete, and built from this very manifest (a changed component list means a rebuild;
# an edited comment does not).
up_to_date() { is_built "$dir" && [[ "$(cat "$dir/manifest.yaml" 2>/dev/null)" == "$manifest" ]]; }
if up_to_date; then echo "$dir/bin"; exit 0; fi

mkdir -p "$STACKKIT_TOOLS"
exec 9>"$dir.lock"
flock 9  # another build of the same version may be running (build-all and a test at once)
if up_to_date; then echo "$dir/bin"; exit 0; fi

{
  start=$SECONDS
  wd="$(workdir otelcol)"
  trap 'rm -rf "$wd"' EXIT

  log "otelcol $ver: installing the collector builder v$ver"
  GOBIN="$wd/gobin" go install "go.opentelemetry.io/collector/cmd/builder@v$ver"

  printf '%s\n' "$manifest" | sed -e "s|@OUTPUT_PATH@|$wd/dist|g" >"$wd/manifest.yaml"

  log "otelcol $ver: generating and compiling otelcol-stackkit"
  "$wd/gobin/builder" --config="$wd/manifest.yaml"

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  install -m 0755 "$wd/dist/otelcol-stackkit" "$dir/bin/otelcol-stackkit"
  printf '%s\n' "$manifest" >"$dir/manifest.yaml"
  cp "$wd/dist/go.mod" "$dir/go.mod"

  "$dir/bin/otelcol-stackkit" --version
  "$dir/bin/otelcol-stackkit" components >/dev/null
  mark_built "$dir"
  log "otelcol $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
