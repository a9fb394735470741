#!/usr/bin/env bash
# Installs the shells `stackkit env` output is tested in (Debian's zsh and fish). Quick when
# present. Prints the directory they are in (the tests' toolchain reads it like a bin directory).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
missing=()
for shell in zsh fish; do command -v "$shell" >/dev/null || missing+=("$shell"); done
((${#missing[@]} == 0)) || apt_install "${missing[@]}"
for shell in zsh fish; do
  command -v "$shell" >/dev/null || { echo "[install-shells] $shell is still missing after the install" >&2; exit 1; }
done
dirname "$(command -v zsh)"
