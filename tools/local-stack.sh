#!/usr/bin/env bash
# `make up`: bring the stack up on this machine's Docker, even on a machine that reaches no
# image registry and has no Pulumi CLI (the kind stackkit is developed on). Steps:
#   1. a Docker engine: DOCKER_HOST or the default socket; else Debian's docker.io is installed
#      and dockerd started in the background (log: $STACKKIT_TOOLS/logs/dockerd.log);
#   2. the Pulumi CLI and Docker provider: `pulumi` from PATH when it is the pinned version, else
#      both are built offline into the tool cache (tools/build-pulumi*.sh; minutes, once);
#   3. images: each pinned image is used if present, else pulled; if it cannot be pulled, it is
#      built locally as the tests build it (tools/build-images.sh), and a local build is rebuilt
#      when its sources changed since (a checkout's pull or upgrade). Grafana cannot be built
#      offline: the locally built "Grafana" is a placeholder that serves the provisioned files,
#      not Grafana. With registry access (or images.registry pointing at a mirror) real images run;
#   4. `stackkit up` with the config given as the first argument (default: ./stackkit.yaml if any).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$TOOLS_REPO"
stackkit=(.venv/bin/stackkit)
[[ $# -gt 0 ]] && stackkit_args=(-c "$1") || stackkit_args=()

engine_up() { docker info >/dev/null 2>&1; }
if ! engine_up; then
  if [[ -z "${DOCKER_HOST:-}" ]]; then
    log "no Docker engine answers: starting Debian's dockerd"
    # Waits for an install under way (build-all's docker job) rather than racing it.
    tools/install-docker.sh >/dev/null
    mkdir -p "$STACKKIT_TOOLS/logs"
    dockerd_log="$STACKKIT_TOOLS/logs/dockerd.log"
    nohup dockerd >"$dockerd_log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
      engine_up && break
      if ! kill -0 "$dockerd_pid" 2>/dev/null; then
        log "dockerd exited at start; the end of its log ($dockerd_log):"
        tail -n 15 "$dockerd_log" | sed 's/^/  /' >&2
        exit 1
      fi
      sleep 1
    done
  fi
  if ! engine_up; then
    log "no Docker engine answers at ${DOCKER_HOST:-the default socket}"
    [[ -n "${dockerd_log:-}" ]] && { log "the end of dockerd's log ($dockerd_log):"; tail -n 15 "$dockerd_log" | sed 's/^/  /' >&2; }
    exit 1
  fi
fi

if [[ "$(pulumi version 2>/dev/null)" != "v$PULUMI_VERSION" ]]; then
  log "building the Pulumi CLI $PULUMI_VERSION and the Docker provider (once; cached)"
  PATH="$(tools/build-pulumi.sh):$(tools/build-pulumi-docker.sh):$PATH"
  export PATH PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
fi

missing=() local_builds=()
while read -r component ref; do
  if built="$(docker image inspect --format '{{ index .Config.Labels "org.stackkit.content" }}' "$ref" 2>/dev/null)"; then
    # A local build from an older checkout may lack what today's config needs (a Collector
    # without the components the pipeline names crash-loops): build-images.sh rebuilds it when
    # its sources changed, and leaves it alone (seconds) when they did not.
    [[ -n $built ]] && local_builds+=("$component")
    continue
  fi
  log "pulling $ref"
  docker pull -q "$ref" >/dev/null 2>&1 || missing+=("$component")
done < <(.venv/bin/python - "${stackkit_args[@]}" <<'PY'
import sys
from stackkit.config import load_config
cfg = load_config(sys.argv[2] if len(sys.argv) > 2 else None)
for component in ("otelcol", "prometheus", "alertmanager", "grafana"):
    print(component, cfg.images.resolve(component))
PY
)
if ((${#missing[@]})); then
  log "no registry has ${missing[*]}: building them locally (grafana becomes a placeholder, not Grafana)"
  DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}" DOCKER_BUILDKIT=0 tools/build-images.sh "${missing[@]}" >/dev/null
fi
if ((${#local_builds[@]})); then
  DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}" DOCKER_BUILDKIT=0 tools/build-images.sh "${local_builds[@]}" >/dev/null
fi

exec "${stackkit[@]}" up "${stackkit_args[@]}"
