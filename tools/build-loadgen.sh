#!/usr/bin/env bash
# Builds the Claude Code load generator bench/loadgen (Go; its own go.mod, dependencies from the
# Go module proxy) into $STACKKIT_TOOLS/loadgen-<hash>/bin/loadgen. <hash> covers every file of
# bench/loadgen but its Markdown, the Go version and CLAUDE_CODE_VERSION (stamped in as the
# default -cli-version), so any change to the source rebuilds. `go vet` must pass.
# Prints only the bin directory on stdout; logs go to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src="$TOOLS_REPO/bench/loadgen"
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null || { log "go is not installed: cannot build loadgen"; exit 1; }

hash="$(
  cd "$src"
  find . -type f ! -name '*.md' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  go version
  echo "$CLAUDE_CODE_VERSION"
)"
hash="$(printf '%s\n' "$hash" | sha256sum | cut -c1-16)"
dir="$(tool_dir loadgen "$hash")"
build_once "$dir"

{
  start=$SECONDS
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  cd "$src"
  # -mod=readonly: the build never edits the repository's go.mod/go.sum.
  export GOFLAGS=-mod=readonly
  log "loadgen $hash: go vet"
  go vet ./...
  log "loadgen $hash: compiling"
  go build -trimpath -ldflags "-s -w -X main.defaultCLIVersion=$CLAUDE_CODE_VERSION" \
    -o "$dir/bin/loadgen" .
  help="$("$dir/bin/loadgen" -help 2>&1)"
  [[ "$help" == *-developers* ]] || { log "loadgen $hash: the binary does not answer -help"; exit 1; }
  mark_built "$dir"
  log "loadgen $hash: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
