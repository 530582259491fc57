package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hookvault/hookvault/internal/config"
)

func TestLimitSettings(t *testing.T) {
	c, err := config.Load([]string{"--max-in-flight=0", "--rate-limit=20", "--rate-limit-window=10s",
		"--trusted-proxies=10.0.0.0/8, fd00::/8", "--read-header-timeout=2s"},
		env(map[string]string{"WEBHOOK_SECRET": "s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 0 || c.RateLimit != 20 || c.RateLimitWindow != 10*time.Second ||
		strings.Join(c.TrustedProxies, " ") != "10.0.0.0/8 fd00::/8" || c.ReadHeaderTimeout != 2*time.Second {
		t.Errorf("got %+v", c)
	}
}

func TestBadLimitSettingsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ name, value string }{
		{"MAX_IN_FLIGHT", "-1"},
		{"MAX_IN_FLIGHT", "many"},
		{"RATE_LIMIT", "1.5"},
		{"RATE_LIMIT_WINDOW", "0s"},
		{"TRUSTED_PROXIES", "10.0.0.1"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,"},
		{"READ_HEADER_TIMEOUT", "fast"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", tt.name: tt.value}), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("err = %v, want one naming %s", err, tt.name)
			}
		})
	}
}
