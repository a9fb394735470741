#!/usr/bin/env bash
# Builds the Pulumi Kubernetes provider plugin `pulumi-resource-kubernetes` at
# PULUMI_KUBERNETES_VERSION (the same version as the PyPI SDK `pulumi-kubernetes`) into
# $STACKKIT_TOOLS/pulumi-kubernetes-<ver>/bin. Prints only the bin directory on stdout; logs go to
# stderr.
#
# The provider/v4 module has no tags of its own, so it is fetched at the pseudo-version
# PULUMI_KUBERNETES_PROVIDER_GO_VERSION (see stackkit/versions.py for which release that commit is).
# Its main.go embeds schema-embed.json and terraform-mapping-embed.json, which upstream generates
# before building (they are not in the module zip), and its go.mod replaces the SDK with ../sdk,
# which is not in the zip either. So: copy the module out of the module cache, drop that replace in
# favour of the published sdk/v4 module, run upstream's generate.go (sets the schema's version and
# minifies both files), and build with the version stamped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver="$PULUMI_KUBERNETES_VERSION"
gover="$PULUMI_KUBERNETES_PROVIDER_GO_VERSION"
mod=github.com/pulumi/pulumi-kubernetes/provider/v4
sdkmod=github.com/pulumi/pulumi-kubernetes/sdk/v4
dir="$(tool_dir pulumi-kubernetes "$ver")"
build_once "$dir"


{
  start=$SECONDS
  wd="$(workdir pulumi-kubernetes)"
  trap 'chmod -R u+w "$wd" 2>/dev/null; rm -rf "$wd"' EXIT

  log "pulumi-kubernetes $ver: fetching $mod@$gover"
  src="$(go mod download -json "$mod@$gover" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  cp -R "$src" "$wd/provider"
  chmod -R u+w "$wd/provider"
  cd "$wd/provider"

  log "pulumi-kubernetes $ver: using the published $sdkmod v$ver instead of ../sdk"
  go mod edit -dropreplace "$sdkmod"
  go get "$sdkmod@v$ver"

  log "pulumi-kubernetes $ver: generating schema-embed.json and terraform-mapping-embed.json"
  (cd cmd/pulumi-resource-kubernetes && VERSION="$ver" go run generate.go)
  python3 - "$ver" cmd/pulumi-resource-kubernetes/schema-embed.json <<'EOF'
import json, sys
schema = json.load(open(sys.argv[2]))
assert schema["name"] == "kubernetes" and schema["version"] == sys.argv[1], schema.get("version")
EOF

  log "pulumi-kubernetes $ver: compiling pulumi-resource-kubernetes"
  go build -trimpath \
    -ldflags "-s -w -X $mod/pkg/version.Version=$ver" \
    -o "$wd/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes

  check_serves "pulumi-kubernetes $ver" "$wd/pulumi-resource-kubernetes" "$wd"

  rm -rf "$dir"
  mkdir -p "$dir/bin"
  install -m 0755 "$wd/pulumi-resource-kubernetes" "$dir/bin/pulumi-resource-kubernetes"
  cp go.mod "$dir/go.mod"
  mark_built "$dir"
  log "pulumi-kubernetes $ver: built in $((SECONDS - start))s"
} >&2

echo "$dir/bin"
