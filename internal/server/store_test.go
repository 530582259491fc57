package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookvault/hookvault/internal/mounttest"
	"github.com/hookvault/hookvault/internal/signature"
)

// post sends a signed delivery and returns the status.
func post(t *testing.T, addr, id string) int {
	t.Helper()
	body := fmt.Appendf(nil, `{"id":%q,"sender":"alice","content":%q}`, id, strings.Repeat("x", 2000))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signature.HeaderSignature, signature.Sign([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// readiness returns the status of GET /health/ready and its store check.
func readiness(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Checks map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h.Checks["store"]
}

// On a full disk, deliveries are answered 503 and readiness says the store is unavailable,
// although the database still answers reads; once there is room again, readiness's write
// probe succeeds, readiness is 200 at once, and deliveries are stored again.
func TestReadinessOnAFullDisk(t *testing.T) {
	dir := mounttest.Tmpfs(t, "4m")
	cfg := mustConfig(t)
	cfg.Database.Path = filepath.Join(dir, "hv.db")
	s := openServer(t, cfg)
	if status, store := readiness(t, s.Addr()); status != 200 || store != "ok" {
		t.Fatalf("readiness before = %d (store %q), want 200", status, store)
	}

	free := mounttest.Fill(t, dir)
	refused := 0
	for i := 0; refused == 0; i++ {
		if i == 5000 {
			t.Fatal("5000 deliveries stored on a full disk")
		}
		switch status := post(t, s.Addr(), fmt.Sprint("full-", i)); status {
		case 503:
			refused++
		case 200:
		default:
			t.Fatalf("delivery %d on a full disk: %d, want 200 or 503", i, status)
		}
	}
	for range 2 { // the second runs the probe again, which fails again
		if status, store := readiness(t, s.Addr()); status != 503 || store != "unavailable" {
			t.Fatalf("readiness on a full disk = %d (store %q), want 503 naming the store", status, store)
		}
	}

	free()
	if status, store := readiness(t, s.Addr()); status != 200 || store != "ok" {
		t.Fatalf("readiness with room again = %d (store %q), want 200", status, store)
	}
	if status := post(t, s.Addr(), "after"); status != 200 {
		t.Fatalf("delivery with room again: %d, want 200", status)
	}
}
