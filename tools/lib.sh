# Shared helpers for tools/build-*.sh. Source it; do not run it.
#
# Every tool is built once into a versioned cache outside the repository:
#   ${STACKKIT_TOOLS:-$HOME/.cache/stackkit-tools}/<tool>-<version>/bin/
# A build that finds its stamp file (.complete) there does nothing, so a warm run takes seconds.
set -euo pipefail

TOOLS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACKKIT_TOOLS="${STACKKIT_TOOLS:-$HOME/.cache/stackkit-tools}"
export STACKKIT_TOOLS
# Pinned versions come from the one place that holds them.
eval "$(python3 "$TOOLS_REPO/stackkit/versions.py")"

export GOFLAGS="${GOFLAGS:--mod=mod}" CGO_ENABLED=0 GOTOOLCHAIN=local
# Go's own installer puts it in /usr/local/go; a PATH with only the system's directories lacks it.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# tool_dir NAME VERSION -> prints the cache directory for that tool version.
tool_dir() { printf '%s/%s-%s\n' "$STACKKIT_TOOLS" "$1" "$2"; }

# is_built DIR -> true when a previous build completed there.
is_built() { [[ -f "$1/.complete" ]]; }

# mark_built DIR -> records a completed build (written last, so a killed build is redone).
mark_built() { date -u +%FT%TZ >"$1/.complete"; }

# workdir NAME -> a fresh scratch directory for a wrapper module, removed on exit by the caller.
workdir() { mktemp -d "${TMPDIR:-/tmp}/stackkit-build-$1.XXXXXX"; }

# build_once DIR: when DIR holds a complete build, print DIR/bin and exit the calling script.
# Otherwise take DIR's build lock (waiting while another build of the same version runs, e.g.
# build-all and a test at once), check again, and return so the caller builds.
build_once() {
  local dir="$1"
  if is_built "$dir"; then echo "$dir/bin"; exit 0; fi
  mkdir -p "$STACKKIT_TOOLS"
  exec 9>"$dir.lock"
  flock 9
  if is_built "$dir"; then echo "$dir/bin"; exit 0; fi
}

# check_serves LABEL BIN SCRATCH: a Pulumi provider started with no arguments prints its gRPC
# port and serves; fail (with its output) otherwise.
check_serves() {
  local label="$1" bin="$2" out="$3/serve.out" err="$3/serve.err" pid port="" i
  "$bin" >"$out" 2>"$err" &
  pid=$!
  for i in $(seq 100); do
    port="$(head -n1 "$out" 2>/dev/null | tr -d '[:space:]')"
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ ! "$port" =~ ^[0-9]+$ ]]; then
    log "$label: the provider printed no port: $(cat "$out" "$err")"
    return 1
  fi
  log "$label: the provider served gRPC on port $port"
}

# check_version LABEL WANT COMMAND...: COMMAND's output (stdout and stderr, read whole first) must
# have a line matching the extended regex WANT. Never `COMMAND | grep -q` under pipefail: grep
# exits at its first match, the command dies of SIGPIPE writing the rest, and the pipeline
# fails although the version was right (2 runs in 10 of `kubectl version --client`).
check_version() {
  local label="$1" want="$2" out
  shift 2
  if ! out="$("$@" 2>&1)"; then
    log "$label: '$*' failed: $out"
    return 1
  fi
  grep -qE -- "$want" <<<"$out" || { log "$label reports a wrong version (want /$want/): $out"; return 1; }
}
