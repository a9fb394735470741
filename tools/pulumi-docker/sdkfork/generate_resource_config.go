// stackkit addition to a scratch copy of Pulumi's terraform-plugin-sdk/v2 fork (package
// helper/schema), copied there by tools/build-pulumi-docker.sh.
//
// kreuzwerker's provider needs terraform-plugin-go v0.31, whose tfprotov5.ProviderServer gained
// GenerateResourceConfig; the fork (based on SDK 2.38.1, built against v0.29) predates it, so its
// GRPCProviderServer no longer satisfies the interface. Terraform calls this only for config
// generation on import, which Pulumi never asks for: answer with an error diagnostic.
package schema

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

func (s *GRPCProviderServer) GenerateResourceConfig(
	_ context.Context, req *tfprotov5.GenerateResourceConfigRequest,
) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{
		Diagnostics: []*tfprotov5.Diagnostic{{
			Severity: tfprotov5.DiagnosticSeverityError,
			Summary:  "GenerateResourceConfig is not supported",
			Detail:   fmt.Sprintf("This provider cannot generate configuration for %q.", req.TypeName),
		}},
	}, nil
}
