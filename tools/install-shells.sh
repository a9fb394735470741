#!/usr/bin/env bash
# Installs the shells `stackkit env` output is tested in (Debian's zsh and fish). Quick when present.
set -euo pipefail
missing=()
for shell in zsh fish; do command -v "$shell" >/dev/null || missing+=("$shell"); done
if ((${#missing[@]})); then
  echo "[tools] installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || true
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
