// Package api embeds the OpenAPI document, the single source of truth for the HTTP contract.
package api

import _ "embed"

// Spec is api/openapi.yaml byte for byte, served at /openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte
