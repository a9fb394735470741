#!/usr/bin/env bash
# apt-install.sh PACKAGE... : the one way tools/ installs Debian packages.
#
# Several tool jobs run at once (build-all.sh) and `make up` runs beside them, and dpkg takes one
# installer at a time. So every install here
#   - holds stackkit's own apt lock for the whole update-and-install, so no two of our scripts run
#     apt at once, and a script that checks "is it installed" after taking the lock sees the end
#     of an install already under way, never its middle (see package_ready);
#   - waits for dpkg's own lock as well (DPkg::Lock::Timeout), for apt run by anyone else;
#   - keeps maintainer scripts from starting services (there is no init system here);
#   - on failure refreshes the package lists (one retry of `apt-get update`) and installs again.
# Fails with apt's own message; no failure is silent. Packages already installed are left as they are.
#
# Sourced, it defines apt_locked (run a command under the lock) and package_ready for callers that
# must check and install as one step.
set -euo pipefail

APT_LOCK="${STACKKIT_APT_LOCK:-/var/lock/stackkit-apt.lock}"
APT_LOCK_TIMEOUT_S="${STACKKIT_APT_LOCK_TIMEOUT:-900}"

_apt_log() { printf '[apt %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# package_ready PACKAGE...: true when dpkg has each package fully configured (a package being
# unpacked or configured right now reads "half-configured" / "unpacked", not ready).
package_ready() {
  local p status
  for p in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" || return 1
    [[ "$status" == ii* ]] || return 1
  done
}

# apt_locked COMMAND...: COMMAND with stackkit's apt lock held (waits for it, up to the timeout).
apt_locked() {
  mkdir -p "$(dirname "$APT_LOCK")"
  (
    exec 8>"$APT_LOCK"
    if ! flock -w "$APT_LOCK_TIMEOUT_S" 8; then
      _apt_log "another stackkit install held $APT_LOCK for ${APT_LOCK_TIMEOUT_S}s; giving up"
      exit 1
    fi
    "$@"
  )
}

_apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT_S" "$@"
}

_apt_update() {
  _apt_get update -q >&2 && return 0
  _apt_log "apt-get update failed; trying once more"
  sleep 2
  _apt_get update -q >&2
}

# _apt_install PACKAGE...: run with the lock held.
_apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    _apt_log "$* missing and this is not root: install them by hand (apt-get install $*)"
    return 1
  fi
  package_ready "$@" && return 0
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local install=(install -y -q --no-install-recommends --no-upgrade
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@")
  _apt_log "installing $*"
  if ! _apt_get "${install[@]}" >&2; then
    _apt_log "apt-get install failed; refreshing the package lists and installing again"
    { _apt_update && _apt_get "${install[@]}" >&2; } || rc=$?
  fi
  ((created)) && rm -f "$policy"
  if ((rc)); then
    _apt_log "could not install $* (apt-get exit $rc; its message is above)"
    return "$rc"
  fi
  package_ready "$@" || { _apt_log "apt-get finished but $* are not configured"; return 1; }
}

# apt_install PACKAGE...: install what is missing, under the lock.
apt_install() { apt_locked _apt_install "$@"; }

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  (($#)) || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
  apt_install "$@"
fi
