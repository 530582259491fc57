package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/hookvault/hookvault/internal/hookvault"
)

// tokens checks bearer tokens of the read API. It compares SHA-256 digests in constant time,
// so neither a token's content nor its length leaks through timing.
type tokens struct {
	digests [][sha256.Size]byte
}

func newTokens(list []string) tokens {
	t := tokens{}
	for _, s := range list {
		t.digests = append(t.digests, sha256.Sum256([]byte(s)))
	}
	return t
}

// check returns nil when r carries one of the tokens.
func (t tokens) check(w http.ResponseWriter, r *http.Request) error {
	unauthorized := func(msg, challenge string) error {
		w.Header().Set("WWW-Authenticate", challenge)
		return hookvault.Errorf(hookvault.EUNAUTHORIZED, "%s", msg)
	}
	if len(t.digests) == 0 {
		return unauthorized("the read API is disabled; set API_TOKEN on the server to enable it", `Bearer realm="hookvault"`)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return unauthorized("missing bearer token", `Bearer realm="hookvault"`)
	}
	got := sha256.Sum256([]byte(token))
	match := 0
	for _, d := range t.digests {
		match |= subtle.ConstantTimeCompare(got[:], d[:]) // no early exit: every token is compared
	}
	if match != 1 {
		return unauthorized("invalid bearer token", `Bearer realm="hookvault", error="invalid_token"`)
	}
	return nil
}
