#!/usr/bin/env bash
# Builds a real, offline single-node Kubernetes cluster for the tests:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy,
#   coredns
# into $STACKKIT_TOOLS/kube-<k8s>+etcd<etcd>+coredns<coredns>/bin and prints that bin dir.
# containerd and the CNI plugins come from Debian (tools/install-kube-node.sh).
#
# Everything comes from the Go module proxy, in three throw-away wrapper modules (their
# dependency graphs disagree on k8s.io/* versions, so they cannot share one module):
#   - k8s.io/kubernetes: its go.mod replaces every staging k8s.io/* module with ./staging/...;
#     the wrapper replaces each with the published v0.<minor>.<patch> instead, copies the
#     godebug line, and stamps gitVersion/gitMajor/gitMinor so `--version` tells the truth.
#     The six binaries are built in ONE `go build` so they share compiled work.
#   - go.etcd.io/etcd/server/v3: a three-line main calling etcdmain.Main (the etcd binary itself
#     lives in a module full of local replaces).
#   - github.com/coredns/coredns: a main calling coremain.Run with only the plugins a cluster's
#     DNS needs compiled in.
# Cold build: about 30 CPU-minutes; warm: instant.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_VER="${KUBERNETES_VERSION#v}"
ETCD_VER="${ETCD_VERSION#v}"
COREDNS_VER="${COREDNS_VERSION#v}"
DIR="$(tool_dir kube "${KUBE_VER}+etcd${ETCD_VER}+coredns${COREDNS_VER}")"
BIN="$DIR/bin"

if is_built "$DIR"; then
  printf '%s\n' "$BIN"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed: cannot build the Kubernetes tools"; exit 1; }
mkdir -p "$BIN"
# One build at a time per cache dir (build-all.sh and a test session may both ask for it).
exec 9>"$DIR/.lock"
if ! flock -n 9; then
  log "another build of $DIR is running; waiting for it"
  flock 9
fi
if is_built "$DIR"; then
  printf '%s\n' "$BIN"
  exit 0
fi
WORK="$(workdir kube)"
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)

KUBE_MAJOR="${KUBE_VER%%.*}"
KUBE_MINOR="${KUBE_VER#*.}"; KUBE_MINOR="${KUBE_MINOR%%.*}"
KUBE_PATCH="${KUBE_VER##*.}"
STAGING_VER="v0.${KUBE_MINOR}.${KUBE_PATCH}"
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
BUILD_FLAGS=(-trimpath)

# --- etcd ---------------------------------------------------------------------------------
build_etcd() {
  local w="$WORK/etcd"
  mkdir -p "$w"
  (
    cd "$w"
    go mod init stackkit.local/etcd >/dev/null 2>&1
    cat >main.go <<'EOF'
// Command etcd is the upstream etcd server, built from its published server module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
    log "etcd v$ETCD_VER: resolving modules"
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VER" >&2
    go mod tidy >&2
    log "etcd v$ETCD_VER: building"
    go build "${BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$BIN/etcd" . >&2
  )
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ---------------------
build_kubernetes() {
  local w="$WORK/kubernetes"
  mkdir -p "$w"
  (
    cd "$w"
    go mod init stackkit.local/kubernetes >/dev/null 2>&1
    log "kubernetes v$KUBE_VER: reading its go.mod"
    local upstream
    upstream="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VER" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
    # Published staging modules instead of ./staging/src/k8s.io/*.
    local mods
    mods="$(grep -Eo '^[[:space:]]*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$upstream" | awk '{print $1}')"
    [[ -n "$mods" ]] || { log "no staging replaces found in $upstream"; exit 1; }
    local m
    for m in $mods; do
      go mod edit -replace "$m=$m@$STAGING_VER"
    done
    # The same go directive and GODEBUG defaults as upstream (they change runtime behaviour).
    go mod edit -go="$(awk '$1=="go"{print $2; exit}' "$upstream")"
    grep -E '^godebug' "$upstream" >>go.mod || true
    cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
EOF
    log "kubernetes v$KUBE_VER: resolving modules (staging modules at $STAGING_VER)"
    go get "k8s.io/kubernetes@v$KUBE_VER" >&2
    go mod tidy >&2
    local pkg ld=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $pkg.gitVersion=v$KUBE_VER -X $pkg.gitMajor=$KUBE_MAJOR -X $pkg.gitMinor=$KUBE_MINOR"
      ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
    done
    log "kubernetes v$KUBE_VER: building the control plane, kubectl, kubelet and kube-proxy"
    go build "${BUILD_FLAGS[@]}" -ldflags "-s -w$ld" -o "$BIN/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-proxy >&2
  )
}

# --- coredns -------------------------------------------------------------------------------
build_coredns() {
  local w="$WORK/coredns"
  mkdir -p "$w"
  (
    cd "$w"
    go mod init stackkit.local/coredns >/dev/null 2>&1
    cat >main.go <<'EOF'
// Command coredns is upstream CoreDNS with only the plugins cluster DNS needs.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// The order plugins run in, as upstream's plugin.cfg has them.
func init() {
	dnsserver.Directives = []string{
		"reload", "ready", "health", "errors", "log", "loadbalance", "cache",
		"kubernetes", "loop", "forward",
	}
}

func main() { coremain.Run() }
EOF
    log "coredns v$COREDNS_VER: resolving modules"
    go get "github.com/coredns/coredns@v$COREDNS_VER" >&2
    go mod tidy >&2
    log "coredns v$COREDNS_VER: building"
    go build "${BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$BIN/coredns" . >&2
  )
}

build_etcd
build_coredns
build_kubernetes

# Each binary must run and report the pinned version.
check_version etcd "etcd Version: ${ETCD_VER//./\\.}$" "$BIN/etcd" --version
check_version kube-apiserver "^Kubernetes v${KUBE_VER//./\\.}$" "$BIN/kube-apiserver" --version
check_version kubectl "v${KUBE_VER//./\\.}$" "$BIN/kubectl" version --client
check_version kubelet "^Kubernetes v${KUBE_VER//./\\.}$" "$BIN/kubelet" --version
check_version coredns "CoreDNS-${COREDNS_VER//./\\.}$" "$BIN/coredns" -version

log "kube tools built in $(( $(date +%s) - START ))s into $BIN"
mark_built "$DIR"
printf '%s\n' "$BIN"
