#!/usr/bin/env bash
# Prints the path of the pinned uv (stackkit/versions.py UV_VERSION), installing it first when
# missing: into its own virtual environment in the tool cache, made with the system's python3
# (standard library venv) and filled from PyPI. Nothing lands in the system's Python or on PATH,
# so a fresh machine with only python3 and the system's directories on PATH gets the same uv.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$(tool_dir uv "$UV_VERSION")"
if is_built "$dir"; then echo "$dir/bin/uv"; exit 0; fi
mkdir -p "$STACKKIT_TOOLS"
exec 9>"$dir.lock"
flock 9
if is_built "$dir"; then echo "$dir/bin/uv"; exit 0; fi
{
  rm -rf "$dir"
  if ! python3 -m venv "$dir"; then
    log "python3 cannot make a virtual environment: install the venv module (Debian: python3-venv)"
    exit 1
  fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  [[ "$("$dir/bin/uv" --version)" == "uv $UV_VERSION"* ]] || { log "uv reports a wrong version"; exit 1; }
  mark_built "$dir"
  log "uv $UV_VERSION installed into $dir"
} >&2
echo "$dir/bin/uv"
