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

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# tool_dir NAME VERSION -> prints the cache directory for that tool version.
tool_dir() { printf '%s/%s-%s\n' "$STACKKIT_TOOLS" "$1" "$2"; }

# is_built DIR -> true when a previous build completed there.
is_built() { [[ -f "$1/.complete" ]]; }

# mark_built DIR -> records a completed build (written last, so a killed build is redone).
mark_built() { date -u +%FT%TZ >"$1/.complete"; }

# workdir NAME -> a fresh scratch directory for a wrapper module, removed on exit by the caller.
workdir() { mktemp -d "${TMPDIR:-/tmp}/stackkit-build-$1.XXXXXX"; }
