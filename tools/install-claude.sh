#!/usr/bin/env bash
# Install the real Claude Code CLI (npm @anthropic-ai/claude-code, pinned as CLAUDE_CODE_VERSION)
# into $STACKKIT_TOOLS/claude-code-<version>/ and print the directory holding the `claude`
# executable. The package is a thin wrapper whose postinstall links the platform's native binary
# (an optional dependency such as @anthropic-ai/claude-code-linux-x64, about 200-400 MB).
# Only the npm registry is used. A completed install (.complete) is reused at once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION="$CLAUDE_CODE_VERSION"
DIR="$(tool_dir claude-code "$VERSION")"
BIN="$DIR/node_modules/.bin"

if is_built "$DIR"; then
  printf '%s\n' "$BIN"
  exit 0
fi

# Concurrent callers (parallel test workers, build-all) wait for one install instead of racing.
mkdir -p "$STACKKIT_TOOLS"
if command -v flock >/dev/null; then
  exec 9>"$DIR.lock"
  flock 9
  if is_built "$DIR"; then
    printf '%s\n' "$BIN"
    exit 0
  fi
fi

# The native package for this machine (npm normally picks it from optionalDependencies; naming it
# explicitly makes a registry hiccup on the optional fetch fail loudly instead of silently).
native_pkg() {
  local os arch libc=""
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) return 1 ;;
  esac
  if [[ $os == linux ]]; then
    # (no pipe into grep -q: with pipefail, ldd's SIGPIPE would read as "not glibc")
    local ldd_out
    ldd_out="$(ldd --version 2>&1 || true)"
    if [[ ! ${ldd_out,,} =~ glibc|"gnu libc" ]]; then
      libc=-musl
    fi
  fi
  printf '@anthropic-ai/claude-code-%s-%s%s\n' "$os" "$arch" "$libc"
}

log "installing @anthropic-ai/claude-code@$VERSION into $DIR"
start=$SECONDS
rm -rf "$DIR"
mkdir -p "$DIR"
pkgs=("@anthropic-ai/claude-code@$VERSION")
if native="$(native_pkg)"; then
  pkgs+=("$native@$VERSION")
fi
# Quiet, reproducible, no telemetry/funding noise; npm's own output goes to stderr.
npm_args=(--no-audit --no-fund --no-save --no-update-notifier --loglevel=error)
if [[ -n ${STACKKIT_NPM_CACHE:-} ]]; then
  npm_args+=(--cache "$STACKKIT_NPM_CACHE")
fi
npm install --prefix "$DIR" "${npm_args[@]}" "${pkgs[@]}" >&2

# Check the binary really runs (the wrapper fails at first start if the native part is missing).
if ! got="$("$BIN/claude" --version 2>&1)"; then
  log "claude --version failed: $got"
  exit 1
fi
case "$got" in
  "$VERSION"*) ;;
  *) log "unexpected version from claude --version: $got (wanted $VERSION)"; exit 1 ;;
esac
log "claude $got installed in $((SECONDS - start))s"
mark_built "$DIR"
printf '%s\n' "$BIN"
