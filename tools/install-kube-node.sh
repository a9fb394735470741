#!/usr/bin/env bash
# Installs what the tests' single-node Kubernetes cluster (tests/fixtures/kube.py) needs from
# Debian, besides the binaries tools/build-kube.sh builds:
#   containernetworking-plugins  the CNI plugins (bridge, host-local, loopback, portmap, firewall)
#                                in /usr/lib/cni
#   containerd, runc             the container runtime (the fixture runs its OWN containerd
#                                instance; the one docker.io uses is never touched)
#   iptables, conntrack          kube-proxy's service rules and connection-tracking clean-up
#   iproute2, openssl            the fixture's bridge clean-up and its certificates
# Idempotent and quick when everything is there. It only installs: no service is started or
# enabled (maintainer scripts are kept from starting anything). Prints the CNI bin dir on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

log() { printf '[install-kube-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

CNI_DIR=/usr/lib/cni
CNI_PLUGINS=(bridge host-local loopback portmap firewall)
COMMANDS=(containerd ctr runc iptables ip6tables iptables-save conntrack ip openssl)

missing() {
  local p c
  for p in "${CNI_PLUGINS[@]}"; do [[ -x $CNI_DIR/$p ]] || echo "cni:$p"; done
  for c in "${COMMANDS[@]}"; do command -v "$c" >/dev/null || echo "$c"; done
}

check_and_install() {
  [[ -z "$(missing)" ]] && return 0
  log "installing: $(missing | tr '\n' ' ')"
  local start=$SECONDS
  _apt_install containernetworking-plugins containerd runc iptables conntrack iproute2 openssl
  log "installed in $((SECONDS - start))s"
}
apt_locked check_and_install

if [[ -n "$(missing)" ]]; then
  log "still missing after install: $(missing | tr '\n' ' ')"
  exit 1
fi
printf '%s\n' "$CNI_DIR"
