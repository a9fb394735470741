#!/usr/bin/env bash
# Builds stackkit's own Pulumi Docker provider plugin `pulumi-resource-docker` (provider name
# `docker`) at PULUMI_DOCKER_VERSION (the PyPI `pulumi-docker` SDK version it is made to serve)
# into $STACKKIT_TOOLS/pulumi-docker-<ver>/bin. Prints only the bin directory on stdout; logs go to
# stderr.
#
# The Go proxy refuses every github.com/pulumi/pulumi-docker provider module, so this builds what
# pulumi-docker is made of the way pulumi-docker does: pulumi-terraform-bridge over kreuzwerker's
# Terraform provider, with the resource tokens and property names of pulumi-docker
# (tools/pulumi-docker/resources.go). Steps:
#   1. copy kreuzwerker's module (it declares the path
#      github.com/terraform-providers/terraform-provider-docker) out of the module cache into a
#      scratch dir and add tools/pulumi-docker/shim there (its provider.New is in internal/);
#   2. copy Pulumi's fork of terraform-plugin-sdk/v2 likewise and add
#      tools/pulumi-docker/sdkfork/generate_resource_config.go to it: kreuzwerker needs
#      terraform-plugin-go v0.31, whose tfprotov5.ProviderServer has a method the fork (built
#      against v0.29) lacks, so the unpatched fork does not compile;
#   3. a scratch module from tools/pulumi-docker (go.mod.tmpl) requires the bridge and replaces
#      the provider and terraform-plugin-sdk/v2 with those two copies;
#   4. build pulumi-tfgen-docker and generate schema.json + bridge-metadata.json with it, and
#      check the schema against the names the pulumi-docker Python SDK sends;
#   5. build pulumi-resource-docker with the minified schema embedded, -tags no_compose, the
#      version stamped; check that it starts and serves gRPC.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$PULUMI_DOCKER_VERSION"
# kreuzwerker/terraform-provider-docker master of 2026-09-16 (SDKv2 resources as in pulumi-docker
# 5.x, including docker_buildx_builder and the registry_image_manifests data source).
upstream_mod=github.com/kreuzwerker/terraform-provider-docker
upstream_ver=v0.0.0-20260916201441-96d331c98ff4
bridge_ver=v3.120.0
# Pulumi's fork of terraform-plugin-sdk/v2 (2.38.1 based), the one bridge v3.120.0 replaces with.
sdk_fork_mod=github.com/pulumi/terraform-plugin-sdk/v2
sdk_fork_ver=v2.0.0-20250923233607-7f1981c8674a
src_dir="$TOOLS_REPO/tools/pulumi-docker"

dir="$(tool_dir pulumi-docker "$ver")"
build_once "$dir"


{
  start=$SECONDS
  wd="$(workdir pulumi-docker)"
  trap 'chmod -R u+w "$wd" 2>/dev/null; rm -rf "$wd"' EXIT

  log "pulumi-docker $ver: fetching $upstream_mod@$upstream_ver"
  src="$(go mod download -json "$upstream_mod@$upstream_ver" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  cp -R "$src" "$wd/upstream"
  chmod -R u+w "$wd/upstream"
  mkdir -p "$wd/upstream/shim"
  cp "$src_dir/shim/shim.go" "$wd/upstream/shim/shim.go"

  log "pulumi-docker $ver: fetching $sdk_fork_mod@$sdk_fork_ver"
  src="$(go mod download -json "$sdk_fork_mod@$sdk_fork_ver" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  cp -R "$src" "$wd/sdk"
  chmod -R u+w "$wd/sdk"
  cp "$src_dir/sdkfork/generate_resource_config.go" \
    "$wd/sdk/helper/schema/stackkit_generate_resource_config.go"

  log "pulumi-docker $ver: assembling the bridge module (bridge $bridge_ver)"
  mkdir -p "$wd/provider/cmd"
  sed -e "s|@BRIDGE_VERSION@|$bridge_ver|g" "$src_dir/go.mod.tmpl" >"$wd/provider/go.mod"
  cp "$src_dir/resources.go" "$wd/provider/"
  cp -R "$src_dir/cmd/pulumi-resource-docker" "$src_dir/cmd/pulumi-tfgen-docker" "$wd/provider/cmd/"
  echo '{}' >"$wd/provider/bridge-metadata.json"
  echo '{}' >"$wd/provider/cmd/pulumi-resource-docker/schema-embed.json"
  cd "$wd/provider"
  go mod tidy -e >/dev/null 2>"$wd/tidy.err" || { cat "$wd/tidy.err"; exit 1; }

  ldflags="-s -w -X stackkit.local/pulumi-docker.Version=$ver"
  log "pulumi-docker $ver: compiling pulumi-tfgen-docker"
  go build -trimpath -tags no_compose -ldflags "$ldflags" -o "$wd/pulumi-tfgen-docker" \
    ./cmd/pulumi-tfgen-docker

  log "pulumi-docker $ver: generating the Pulumi schema"
  "$wd/pulumi-tfgen-docker" schema --out "$wd/gen" --skip-docs --skip-examples
  cp "$wd/gen/bridge-metadata.json" "$wd/provider/bridge-metadata.json"
  python3 - "$ver" "$wd/gen/schema.json" cmd/pulumi-resource-docker/schema-embed.json <<'EOF'
import json, sys

ver, src, dst = sys.argv[1:]
schema = json.load(open(src))
schema["version"] = ver
assert schema["name"] == "docker", schema["name"]
# What stackkit's Pulumi program relies on: pulumi-docker's tokens and the property names the
# PyPI SDK sends (camelCase; lists pluralised as in pulumi-docker).
want = {
    "docker:index/container:Container": [
        "name", "image", "command", "envs", "ports", "volumes", "uploads", "healthcheck",
        "networksAdvanced", "restart", "labels", "hostname", "mounts", "entrypoints", "rm",
        "mustRun", "start", "logDriver", "logOpts", "user", "workingDir", "capabilities",
        "hosts", "destroyGraceSeconds", "wait", "waitTimeout",
    ],
    "docker:index/network:Network": ["name", "driver", "internal", "labels", "ipamConfigs",
                                     "attachable", "ipv6", "options"],
    "docker:index/volume:Volume": ["name", "driver", "driverOpts", "labels"],
    "docker:index/remoteImage:RemoteImage": ["name", "keepLocally", "imageId", "repoDigest",
                                             "forceRemove", "pullTriggers", "triggers"],
}
missing = []
for tok, props in want.items():
    res = schema["resources"].get(tok)
    if res is None:
        missing.append(tok)
        continue
    have = set(res.get("inputProperties", {})) | set(res.get("properties", {}))
    missing += [f"{tok}.{p}" for p in props if p not in have]
for p in ["host", "sshOpts", "registryAuth", "caMaterial", "certMaterial", "keyMaterial"]:
    if p not in schema["config"]["variables"]:
        missing.append(f"config.{p}")
if missing:
    sys.exit("schema lacks: " + ", ".join(missing))
json.dump(schema, open(dst, "w"), separators=(",", ":"), sort_keys=True)
print(f"schema: {len(schema['resources'])} resources, {len(schema['functions'])} functions",
      file=sys.stderr)
EOF

  log "pulumi-docker $ver: compiling pulumi-resource-docker"
  go build -trimpath -tags no_compose -ldflags "$ldflags" -o "$wd/pulumi-resource-docker" \
    ./cmd/pulumi-resource-docker

  [[ "$("$wd/pulumi-resource-docker" -version)" == "$ver" ]]
  check_serves "pulumi-docker $ver" "$wd/pulumi-resource-docker" "$wd"

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  install -m 0755 "$wd/pulumi-resource-docker" "$dir/bin/pulumi-resource-docker"
  cp go.mod "$dir/go.mod"
  cp cmd/pulumi-resource-docker/schema-embed.json "$dir/schema.json"
  mark_built "$dir"
  log "pulumi-docker $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
