// Package gen holds the code that oapi-codegen generates from api/openapi.yaml: the models,
// the chi strict server, the client SDK and the embedded spec. Never edit *.gen.go by hand:
// change the spec or oapi-codegen.cfg.yaml and run `make generate`. client_options.go is the
// one hand-written file: SDK options (signing, bearer token) that users of the client need.
package gen

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config oapi-codegen.cfg.yaml ../api/openapi.yaml
