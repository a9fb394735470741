#!/usr/bin/env bash
# Installs a Docker engine (Debian's docker.io: dockerd, containerd, runc) when dockerd is missing.
# Idempotent and quick when the engine is already there. It only installs: the tests start their
# own dockerd (tests/fixtures/docker.py); no system service is started or enabled here.
# Prints the path of dockerd on stdout.
set -euo pipefail

log() { printf '[install-docker %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have_engine() { command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v runc >/dev/null; }

if ! have_engine; then
  if [[ $(id -u) -ne 0 ]]; then
    log "dockerd is missing and this is not root: install docker.io (Debian) by hand"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from trying to start the service (there is no init system here).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  trap 'if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
  apt_install() {
    apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      docker.io iptables ca-certificates >&2
  }
  log "installing docker.io with apt-get"
  start=$SECONDS
  if ! apt_install; then
    log "apt-get install failed; refreshing the package lists and retrying"
    apt-get update -q >&2
    apt_install
  fi
  log "installed in $((SECONDS - start))s"
fi

have_engine || { log "dockerd still missing after install"; exit 1; }
command -v dockerd
