package main

import (
	"os"
	"path/filepath"
	"testing"
)

const (
	fox = "The quick brown fox jumps over the lazy dog"
	// HMAC-SHA256 test vectors under the key "key" (the fox one is Wikipedia's).
	foxSig        = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	foxNewlineSig = "abb26bc1a42fb16503a4d5b44d5082ed8fe79229b3c057c6d770956777b83b15"
	emptySig      = "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"
)

func TestSign(t *testing.T) {
	dir := t.TempDir()
	foxFile := filepath.Join(dir, "fox.txt")
	if err := os.WriteFile(foxFile, []byte(fox), 0o600); err != nil {
		t.Fatal(err)
	}
	withKey := map[string]string{"WEBHOOK_SECRET": "key"}

	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		want  string
	}{
		{"data", nil, "", []string{"sign", "--secret=key", "--data", fox}, foxSig + "\n"},
		{"stdin without argument", nil, fox, []string{"sign", "--secret=key"}, foxSig + "\n"},
		{"stdin as -", nil, fox, []string{"sign", "--secret=key", "-"}, foxSig + "\n"},
		{"file", nil, "", []string{"sign", "--secret=key", foxFile}, foxSig + "\n"},
		{"header form", nil, fox, []string{"sign", "--secret=key", "--header"}, "X-Signature: " + foxSig + "\n"},
		{"secret from WEBHOOK_SECRET", withKey, fox, []string{"sign"}, foxSig + "\n"},
		{"first of several secrets signs", map[string]string{"WEBHOOK_SECRET": "key,other"}, fox, []string{"sign"}, foxSig + "\n"},
		{"flag wins over variable", map[string]string{"WEBHOOK_SECRET": "other"}, fox, []string{"sign", "--secret=key"}, foxSig + "\n"},
		{"trailing newline is signed", nil, fox + "\n", []string{"sign", "--secret=key"}, foxNewlineSig + "\n"},
		{"empty data", nil, "", []string{"sign", "--secret=key", "--data="}, emptySig + "\n"},
		{"empty stdin", nil, "", []string{"sign", "--secret=key"}, emptySig + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, tt.stdin, tt.args...)
			succeeded(t, r)
			if r.stdout != tt.want {
				t.Errorf("stdout = %q, want %q", r.stdout, tt.want)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []exitCase{
		{"no secret", nil, []string{"sign", "--data=x"}, 2, []string{"WEBHOOK_SECRET", "--secret"}},
		{"empty variable is no secret", map[string]string{"WEBHOOK_SECRET": ""}, []string{"sign", "--data=x"}, 2, []string{"WEBHOOK_SECRET"}},
		{"unreadable file", map[string]string{"WEBHOOK_SECRET": testSecret}, []string{"sign", missing}, 1, []string{missing, "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := hookctl(t, tt.env, "", tt.args...)
			r.wantFailure(t, tt.wantCode, tt.wantStderr...)
		})
	}
}
