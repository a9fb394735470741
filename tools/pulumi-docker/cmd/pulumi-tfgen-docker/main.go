// `pulumi-tfgen-docker schema --out DIR` writes the Pulumi schema (schema.json) and the bridge's
// metadata (bridge-metadata.json) that pulumi-resource-docker embeds. Used only at build time.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	docker "stackkit.local/pulumi-docker"
)

func main() {
	tfgen.Main("docker", docker.Version, docker.Provider())
}
