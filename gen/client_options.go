// This file is written by hand; oapi-codegen does not generate it and `make generate` leaves
// it alone. It adds the two client options that almost every user of the SDK needs, so that
// a program in another module signs and authenticates with one option each:
//
//	client, err := gen.NewClientWithResponses(url,
//		gen.WithWebhookSecret(secret), // POST /webhook (and sources of the hookvault preset): X-Signature
//		gen.WithBearerToken(token),    // the read API: /messages, /stats, /sources, /deliveries
//	)

package gen

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hookvault/hookvault/internal/signature"
)

// WithWebhookSecret signs every request that has a body with X-Signature: the hex
// HMAC-SHA256 of the bytes actually sent, under secret (with several comma-separated
// secrets configured on the server, pass the one to sign with). The typed PostWebhook
// re-marshals its argument, and the signature still matches because it is computed from the
// request body as built, not from the value passed in.
//
// GET and HEAD requests without a body, the read API's, are left unsigned; any other
// request is signed, an empty body included, so the server judges its content rather than
// reporting a missing signature.
//
// POST /webhook/{source} is signed the same way, which is what a source of the hookvault
// preset checks; a source of another provider (GitHub, Stripe, …) checks that provider's own
// scheme, which this option does not make: `hookctl send --source NAME --provider P` does.
//
// It appends to the client's request editors, so it composes with WithRequestEditorFn and
// WithBearerToken in any order. An empty secret is an error from the client constructor.
func WithWebhookSecret(secret string) ClientOption {
	return func(c *Client) error {
		if secret == "" {
			return errors.New("gen.WithWebhookSecret: the secret is empty")
		}
		sign := signature.RequestSigner([]byte(secret))
		c.RequestEditors = append(c.RequestEditors, func(ctx context.Context, req *http.Request) error {
			if !hasBody(req) && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
				return nil
			}
			return sign(ctx, req)
		})
		return nil
	}
}

// WithBearerToken sets "Authorization: Bearer <token>" on every request, as the read API
// (/messages, /messages/{id}, /stats, /sources, /deliveries, POST /deliveries/{did}/retry)
// requires; the token is one of the server's API_TOKEN.
//
// It appends to the client's request editors, so it composes with WithRequestEditorFn and
// WithWebhookSecret in any order. An empty token, or one with spaces or control characters
// (a stray newline from a file, say), is an error from the client constructor; the error
// does not repeat the token.
func WithBearerToken(token string) ClientOption {
	return func(c *Client) error {
		if token == "" {
			return errors.New("gen.WithBearerToken: the token is empty")
		}
		if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return errors.New("gen.WithBearerToken: the token contains spaces or control characters")
		}
		value := "Bearer " + token
		c.RequestEditors = append(c.RequestEditors, func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", value)
			return nil
		})
		return nil
	}
}

func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody
}
