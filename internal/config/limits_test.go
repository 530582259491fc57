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

func TestConnectionAndMemorySettings(t *testing.T) {
	c, err := config.Load([]string{"--max-body-bytes-in-flight=0", "--max-connections=100", "--max-client-connections=0",
		"--max-client-requests=7", "--read-body-timeout=3s", "--idle-timeout=90s", "--shutdown-delay=0s"},
		env(map[string]string{"WEBHOOK_SECRET": "s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBodyBytesInFlight != 0 || c.MaxConnections != 100 || c.MaxClientConnections != 0 || c.MaxClientRequests != 7 ||
		c.ReadBodyTimeout != 3*time.Second || c.IdleTimeout != 90*time.Second || c.ShutdownDelay != 0 {
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
		{"READ_BODY_TIMEOUT", "0s"},
		{"IDLE_TIMEOUT", "-1s"},
		{"SHUTDOWN_DELAY", "-1s"},
		{"MAX_BODY_BYTES_IN_FLIGHT", "64MiB"},
		{"MAX_BODY_BYTES_IN_FLIGHT", "-1"},
		{"MAX_CONNECTIONS", "-5"},
		{"MAX_CLIENT_CONNECTIONS", "lots"},
		{"MAX_CLIENT_REQUESTS", "2.5"},
	} {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(nil, env(map[string]string{"WEBHOOK_SECRET": "s", tt.name: tt.value}), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("err = %v, want one naming %s", err, tt.name)
			}
		})
	}
}
