// Package shim exposes the constructor of kreuzwerker's Terraform provider, which lives in an
// internal package. tools/build-pulumi-docker.sh copies this file into a scratch copy of that
// module (as shim/shim.go), the same trick pulumi-docker uses.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the SDKv2 Terraform provider (every resource pulumi-docker bridges).
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
