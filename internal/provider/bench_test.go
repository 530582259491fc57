package provider_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
)

// benchBody is a 1 KiB JSON body, a GitHub-like push with the id and type in headers.
func benchBody() []byte {
	head := `{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"0000000000000000000000000000000000000000","repository":{"id":186853002,"name":"hello","full_name":"octo/hello"},"pusher":{"name":"octocat"},"commits":[`
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len() < 1024-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%040d","message":"fix \"thing\" %d"}`, i, i)
	}
	b.WriteString(`],"id":"evt_bench","type":"push"}`)
	return []byte(b.String())
}

// BenchmarkVerifyRead compares a source's Verify+Read with signature.Verifier.Verify, POST
// /webhook's check, on the same 1 KiB body:
//
//	go test -run '^$' -bench BenchmarkVerifyRead -benchmem ./internal/provider
func BenchmarkVerifyRead(b *testing.B) {
	body := benchBody()
	if len(body) < 1000 || len(body) > 1100 {
		b.Fatalf("body is %d bytes, want about 1 KiB", len(body))
	}
	for _, tc := range []struct {
		name string
		cfg  provider.Config
		kv   []string
	}{
		{"github", provider.Config{Provider: "github", Secrets: []string{"bench-secret"}}, []string{"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event", "push"}},
		{"stripe", provider.Config{Provider: "stripe", Secrets: []string{"whsec_bench"}}, nil},
		{"standard-webhooks", provider.Config{Provider: "standard-webhooks", Secrets: []string{stdSecret("bench key")}}, nil},
		{"github-2-secrets", provider.Config{Provider: "github", Secrets: []string{"old-secret", "bench-secret"}}, []string{"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event", "push"}},
	} {
		r := request("", string(body), tc.kv...)
		signWith := tc.cfg.Secrets[len(tc.cfg.Secrets)-1]
		if err := provider.Sign(tc.cfg, signWith, &r, tNow); err != nil {
			b.Fatal(err)
		}
		s := mustNew(b, tc.cfg, tNow)
		b.Run(tc.name+"/Verify+Read", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Verify(r); err != nil {
					b.Fatal(err)
				}
				if d, err := s.Read(r); err != nil || d.ID == "" {
					b.Fatal(d, err)
				}
			}
		})
		if tc.name != "github" {
			continue
		}
		b.Run(tc.name+"/Verify", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Verify(r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/Read", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Read(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("signature.Verifier/X-Signature", func(b *testing.B) {
		v, err := signature.NewVerifier([][]byte{[]byte("bench-secret")}, signature.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h := http.Header{}
		h.Set(signature.HeaderSignature, signature.Sign([]byte("bench-secret"), body))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(h, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
