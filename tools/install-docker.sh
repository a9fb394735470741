#!/usr/bin/env bash
# Installs a Docker engine (Debian's docker.io: dockerd, containerd, runc, with iptables) unless
# one is installed. Quick when it is. It only installs: the tests start their own dockerd
# (tests/fixtures/docker.py) and `make up` starts one (tools/local-stack.sh); no system service is
# started or enabled here. Prints the path of dockerd on stdout.
#
# "Installed" means ready to start, not "a binary exists": the check runs under the apt lock of
# tools/apt-install.sh, so an install under way in another job (build-all's `docker` job) is
# waited for; a Debian docker.io must be fully configured, and iptables must run (dockerd dies at
# start without it: "failed to create NAT chain DOCKER: Iptables not found").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

log() { printf '[install-docker %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

engine_ready() {
  local c
  for c in dockerd containerd runc iptables; do command -v "$c" >/dev/null || return 1; done
  # A Debian engine half-way through its install is not ready (an engine from elsewhere is
  # unknown to dpkg and judged by its binaries alone).
  if dpkg-query -W docker.io >/dev/null 2>&1; then package_ready docker.io iptables || return 1; fi
  iptables -V >/dev/null 2>&1
}

install_if_missing() {
  engine_ready && return 0
  local start=$SECONDS
  _apt_install docker.io iptables ca-certificates
  log "installed in $((SECONDS - start))s"
  engine_ready || { log "docker.io is installed but the engine is not ready (dockerd, containerd, runc, iptables -V)"; return 1; }
}

apt_locked install_if_missing
command -v dockerd
