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

log() { printf '[install-kube-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

CNI_DIR=/usr/lib/cni
CNI_PLUGINS=(bridge host-local loopback portmap firewall)
COMMANDS=(containerd ctr runc iptables ip6tables iptables-save conntrack ip openssl)

missing() {
  local p c
  for p in "${CNI_PLUGINS[@]}"; do [[ -x $CNI_DIR/$p ]] || echo "cni:$p"; done
  for c in "${COMMANDS[@]}"; do command -v "$c" >/dev/null || echo "$c"; done
}

if [[ -n "$(missing)" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing: $(missing | tr '\n' ' ')and this is not root: install them by hand"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from trying to start a service (there is no init system here).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  trap 'if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
  apt_install() {
    # --no-upgrade: a package already installed (containerd, openssl…) is left at its version.
    apt-get install -y -q --no-install-recommends --no-upgrade \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      containernetworking-plugins containerd runc iptables conntrack iproute2 openssl >&2
  }
  log "installing: $(missing | tr '\n' ' ')"
  start=$SECONDS
  if ! apt_install; then
    log "apt-get install failed; refreshing the package lists and retrying"
    apt-get update -q >&2
    apt_install
  fi
  log "installed in $((SECONDS - start))s"
fi

if [[ -n "$(missing)" ]]; then
  log "still missing after install: $(missing | tr '\n' ' ')"
  exit 1
fi
printf '%s\n' "$CNI_DIR"
