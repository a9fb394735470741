// Package docker maps kreuzwerker's Terraform provider for Docker onto Pulumi tokens and property
// names with pulumi-terraform-bridge, so that the PyPI `pulumi-docker` Python SDK (pinned to
// PULUMI_DOCKER_VERSION in stackkit/versions.py) drives it. The tokens are pulumi-docker's; the
// property names come from the bridge's default mangling (snake_case -> camelCase, lists
// pluralised), with the three exceptions below. All 11 resources, 6 functions and the provider
// config were compared property by property with the pulumi-docker 5.2.0 Python SDK;
// tools/build-pulumi-docker.sh re-checks at every build the names stackkit relies on.
//
// Not bridged: pulumi-docker's native `docker:index/image:Image` (docker build), which needs base
// images and which stackkit does not use.
package docker

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is stamped at build time (-X stackkit.local/pulumi-docker.Version=...).
var Version = "0.0.0-dev"

// bridge-metadata.json is written by pulumi-tfgen-docker at build time (an empty object before).
//
//go:embed bridge-metadata.json
var metadata []byte

const (
	pkgName = "docker"
	mainMod = "index"
)

func resource(name string) tokens.Type {
	return tokens.Type(pkgName + ":" + mainMod + "/" + lowerFirst(name) + ":" + name)
}

func function(name string) tokens.ModuleMember {
	return tokens.ModuleMember(pkgName + ":" + mainMod + "/" + name + ":" + name)
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// Provider returns the bridge's description of the provider.
func Provider() tfbridge.ProviderInfo {
	return tfbridge.ProviderInfo{
		P:            shimv2.NewProvider(shim.NewProvider(Version)),
		Name:         pkgName,
		Version:      Version,
		DisplayName:  "Docker",
		Description:  "stackkit's build of a Pulumi provider for Docker (kreuzwerker/docker via pulumi-terraform-bridge).",
		Keywords:     []string{"pulumi", "docker"},
		License:      "Apache-2.0",
		Publisher:    "stackkit",
		GitHubOrg:    "kreuzwerker",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {
				Default: &tfbridge.DefaultInfo{
					EnvVars: []string{"DOCKER_HOST"},
					Value:   "unix:///var/run/docker.sock",
				},
			},
			"ssh_opts": {
				Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_SSH_OPTS"}},
			},
			// pulumi-docker keeps this list singular (the bridge would say "registryAuths").
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_buildx_builder": {Tok: resource("BuildxBuilder")},
			"docker_config":         {Tok: resource("ServiceConfig")},
			"docker_container":      {Tok: resource("Container"), Fields: containerFields},
			"docker_image":          {Tok: resource("RemoteImage")},
			"docker_network":        {Tok: resource("Network")},
			"docker_plugin":         {Tok: resource("Plugin")},
			"docker_registry_image": {Tok: resource("RegistryImage")},
			"docker_secret":         {Tok: resource("Secret")},
			"docker_service":        {Tok: resource("Service")},
			"docker_tag":            {Tok: resource("Tag")},
			"docker_volume":         {Tok: resource("Volume")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    {Tok: function("getRemoteImage")},
			"docker_logs":                     {Tok: function("getLogs")},
			"docker_network":                  {Tok: function("getNetwork")},
			"docker_plugin":                   {Tok: function("getPlugin")},
			"docker_registry_image":           {Tok: function("getRegistryImage")},
			"docker_registry_image_manifests": {Tok: function("getRegistryImageManifests")},
		},
	}
}

// Where pulumi-docker's names differ from the bridge's defaults (which would pluralise these two
// lists to "commands" and "networksAdvanceds"); everything else matches the SDK as generated.
var containerFields = map[string]*tfbridge.SchemaInfo{
	"command":           {Name: "command"},
	"networks_advanced": {Name: "networksAdvanced"},
}
