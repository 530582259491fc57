package provider_test

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// tNow is the tables' clock, unless a case sets its own.
var tNow = time.Unix(1_700_000_000, 0)

func fixed(now time.Time) func() time.Time { return func() time.Time { return now } }

func mustNew(t testing.TB, c provider.Config, now time.Time) *provider.Source {
	t.Helper()
	if c.Name == "" {
		c.Name = "src"
	}
	s, err := provider.New(c, provider.Options{Now: fixed(now)})
	if err != nil {
		t.Fatalf("New(%+v): %v", c.Provider, err)
	}
	return s
}

// request builds a POST with a JSON body unless a Content-Type is given.
func request(query, body string, kv ...string) provider.Request {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	return provider.Request{Method: http.MethodPost, URL: &url.URL{Path: "/webhook/src", RawQuery: query}, Header: h, Body: []byte(body)}
}

// checkVerify asserts the outcome of Verify: nil for want "", else an *Error with that reason
// and the source's scheme.
func checkVerify(t *testing.T, s *provider.Source, r provider.Request, want signature.Reason) {
	t.Helper()
	err := s.Verify(r)
	if want == "" {
		if err != nil {
			t.Fatalf("Verify = %v, want nil", err)
		}
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Verify = %v, want an *Error with reason %s", err, want)
	}
	if pe.Reason != want || pe.Scheme != s.Scheme() {
		t.Fatalf("Verify = %s/%s, want %s/%s", pe.Scheme, pe.Reason, s.Scheme(), want)
	}
}

// vcase is one vector: a request, the clock and secrets it is checked with, and the outcome.
type vcase struct {
	name    string
	h       []string // header name, value, …
	body    string
	query   string
	method  string
	at      time.Time // zero: the table's clock
	secrets []string  // nil: the table's
	want    signature.Reason
}

type vtable struct {
	cfg   provider.Config
	now   time.Time
	cases []vcase
}

func (tbl vtable) run(t *testing.T) {
	t.Helper()
	for _, tc := range tbl.cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tbl.now
			if !tc.at.IsZero() {
				now = tc.at
			}
			c := tbl.cfg
			if tc.secrets != nil {
				c.Secrets = tc.secrets
			}
			s := mustNew(t, c, now)
			r := request(tc.query, tc.body, tc.h...)
			if tc.method != "" {
				r.Method = tc.method
			}
			checkVerify(t, s, r, tc.want)
		})
	}
}

// The computed vectors below are made with crypto/hmac directly, independently of the
// package's content templates, so that a wrong template cannot agree with itself.

func mac(alg func() hash.Hash, key string, parts ...string) []byte {
	m := hmac.New(alg, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func macHex(alg func() hash.Hash, key string, parts ...string) string {
	return hex.EncodeToString(mac(alg, key, parts...))
}

func macB64(alg func() hash.Hash, key string, parts ...string) string {
	return base64.StdEncoding.EncodeToString(mac(alg, key, parts...))
}

// str is a decimal timestamp.
func str(n int64) string { return strconv.FormatInt(n, 10) }
