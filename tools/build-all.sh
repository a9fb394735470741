#!/usr/bin/env bash
# Builds every tool the tests need: runs each tools/build-*.sh and tools/install-*.sh (except
# this script), at most $STACKKIT_BUILD_JOBS (default 3) at once. A tool already built costs
# nothing: its script exits at once. tools/build-images.sh needs a running engine: it runs when
# DOCKER_HOST is set (last, after every other script succeeded, since images are made from the
# binaries); otherwise the tests' docker_engine fixture runs it against the engine it starts.
#
# Each script's stdout+stderr go to $STACKKIT_TOOLS/logs/<tool>.log. Prints a summary (status and
# wall time per tool) and exits non-zero if any tool failed, naming it and showing its log tail.
#
#   build-all.sh            build, wait, print the summary
#   build-all.sh --detach   the same in the background (log: logs/build-all.log), returning at
#                           once: `make test` starts the tests meanwhile, and each test waits for
#                           the tools it needs (their scripts wait on the build in progress)
#   build-all.sh --wait     wait for a background run; print its summary and exit as it did
# One run at a time per tool cache (a lock); a second one waits, or with --detach does nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

max_jobs="${STACKKIT_BUILD_JOBS:-3}"
logs="$STACKKIT_TOOLS/logs"
mkdir -p "$logs"
lock="$STACKKIT_TOOLS/build-all.lock"
case "${1:-}" in
  --detach)
    if flock -n "$lock" true; then
      log "building the tools in the background, $max_jobs at once (log: $logs/build-all.log)"
      rm -f "$logs/build-all.status"
      setsid nohup bash "$0" >"$logs/build-all.log" 2>&1 </dev/null &
    else
      log "the tools are already being built (log: $logs/build-all.log)"
    fi
    exit 0 ;;
  --wait)
    flock "$lock" true
    sed -n '/^stackkit tools/,$p' "$logs/build-all.log" 2>/dev/null || true
    exit "$(cat "$logs/build-all.status" 2>/dev/null || echo 0)" ;;
  "") ;;
  *) echo "usage: $0 [--detach | --wait]" >&2; exit 2 ;;
esac
exec 7>"$lock"
flock 7
trap 'echo $? >"$logs/build-all.status"' EXIT

# What `make up` needs first (the engine, the Pulumi CLI and Docker provider, the Collector,
# Prometheus and Alertmanager for its images), then the longest build so that it does not start last, then the
# quick installs and the rest (tests run in the order their tools are ready, see tests/conftest.py).
# The Debian installs (docker, shells, kube-node) take turns on the apt lock (tools/apt-install.sh).
order=(docker pulumi pulumi-docker otelcol prometheus alertmanager kube claude shells pulumi-kubernetes thanos)
declare -A script_of=()
for s in "$TOOLS_REPO"/tools/build-*.sh "$TOOLS_REPO"/tools/install-*.sh; do
  [[ -f "$s" ]] || continue
  base="$(basename "$s" .sh)"
  [[ "$base" == build-all ]] && continue
  name="${base#build-}"; name="${name#install-}"
  script_of[$name]="$s"
done
queue=()
for name in "${order[@]}"; do [[ -n "${script_of[$name]:-}" ]] && queue+=("$name"); done
while read -r name; do
  [[ -z "$name" || "$name" == images ]] && continue
  [[ " ${queue[*]} " == *" $name "* ]] || queue+=("$name")
done < <(printf '%s\n' "${!script_of[@]}" | sort)
last=""
[[ -n "${script_of[images]:-}" && -n "${DOCKER_HOST:-}" ]] && last=images

declare -A status=() secs=() started=() name_of=()
failed=()
all_start=$SECONDS

launch() {
  local name="$1"
  log "start $name (log: $logs/$name.log)"
  started[$name]=$SECONDS
  bash "${script_of[$name]}" >"$logs/$name.log" 2>&1 </dev/null &
  name_of[$!]="$name"
}

reap() {  # waits for one running script and records how it ended
  local pid rc=0 name
  wait -n -p pid || rc=$?
  name="${name_of[$pid]}"
  unset "name_of[$pid]"
  secs[$name]=$((SECONDS - started[$name]))
  if ((rc == 0)); then
    status[$name]=ok
    log "done  $name in ${secs[$name]}s"
  else
    status[$name]="FAILED (exit $rc)"
    failed+=("$name")
    log "FAIL  $name (exit $rc) after ${secs[$name]}s"
  fi
}

for name in "${queue[@]}"; do
  while ((${#name_of[@]} >= max_jobs)); do reap; done
  launch "$name"
done
while ((${#name_of[@]} > 0)); do reap; done

if [[ -n "$last" ]]; then
  if ((${#failed[@]} == 0)); then
    launch "$last"
    reap
  else
    status[$last]="NOT RUN (needs the failed tools)"
    echo "$last: not run, because these tools failed: ${failed[*]}" >"$logs/$last.log"
    secs[$last]=0
    failed+=("$last")
  fi
  queue+=("$last")
fi

echo "stackkit tools ($STACKKIT_TOOLS), ${max_jobs} at once, $((SECONDS - all_start))s in all:"
for name in "${queue[@]}"; do
  bin="$(tail -n 1 "$logs/$name.log" 2>/dev/null || true)"
  [[ "${status[$name]}" == ok ]] || bin=""
  printf '  %-22s %-34s %6ss  %s\n' "$name" "${status[$name]}" "${secs[$name]}" "$bin"
done

if ((${#failed[@]} > 0)); then
  for name in "${failed[@]}"; do
    [[ -f "$logs/$name.log" ]] || continue
    echo
    echo "=== $name failed: last 40 lines of $logs/$name.log ==="
    tail -n 40 "$logs/$name.log"
  done
  echo
  echo "build-all: failed: ${failed[*]}" >&2
  exit 1
fi
