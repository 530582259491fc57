package gen_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/config"
	"github.com/hookvault/hookvault/internal/server"
	"github.com/hookvault/hookvault/internal/signature"
)

// A client that posts signed messages and reads them back: one option for the webhook
// secret, one for the API token.
func ExampleNewClientWithResponses() {
	addr, stop := startExampleServer()
	defer stop()

	client, err := gen.NewClientWithResponses("http://"+addr,
		gen.WithWebhookSecret("example-secret"),
		gen.WithBearerToken("example-token"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	sent, err := client.PostWebhookWithResponse(ctx, nil, gen.WebhookMessage{Id: "evt-1", Sender: "alice", Content: "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if sent.JSON200 == nil {
		fmt.Println(sent.Status(), string(sent.Body))
		return
	}
	fmt.Println("created:", !sent.JSON200.Duplicate)

	list, err := client.ListMessagesWithResponse(ctx, &gen.ListMessagesParams{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if list.JSON200 == nil {
		fmt.Println(list.Status(), string(list.Body))
		return
	}
	for _, m := range list.JSON200.Data {
		// Sender and content are pointers: only messages of POST /webhook's format have
		// them, not those of a provider's source such as GitHub.
		sender := "-"
		if m.Sender != nil {
			sender = *m.Sender
		}
		fmt.Println("listed:", len(list.JSON200.Data), m.Source, m.Id, sender)
	}

	got, err := client.GetMessageWithResponse(ctx, "evt-1", nil) // nil params: source default
	if err != nil {
		fmt.Println(err)
		return
	}
	if got.JSON200 == nil {
		fmt.Println(got.Status(), string(got.Body))
		return
	}
	// Payload is null only for a body that is neither JSON nor text (then PayloadBase64 holds it).
	fmt.Println("payload:", string(got.JSON200.Payload))
	// Output:
	// created: true
	// listed: 1 default evt-1 alice
	// payload: {"content":"hello","id":"evt-1","sender":"alice"}
}

// startExampleServer runs a hookvault with a temporary SQLite file, and the server flags
// extra, and returns its address and a function that stops it and removes the file.
func startExampleServer(extra ...string) (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "hookvault-example-")
	if err != nil {
		panic(err)
	}
	cfg, err := config.Load(append([]string{
		"--listen-addr=127.0.0.1:0",
		"--database-url=sqlite:" + filepath.Join(dir, "hv.db"),
		"--webhook-secret=example-secret",
		"--api-token=example-token",
	}, extra...), func(string) string { return "" }, io.Discard)
	if err != nil {
		panic(err)
	}
	srv, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	return srv.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.RemoveAll(dir)
	}
}

// The tests below check the hand-written options in client_options.go against a server that
// records what it receives.

type received struct {
	method, path string
	header       http.Header
	body         []byte
}

func recorder(t *testing.T) (url string, got func() []received) {
	t.Helper()
	var mu sync.Mutex
	var reqs []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, received{r.Method, r.URL.Path, r.Header.Clone(), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/webhook", "/webhook/mine":
			_, _ = io.WriteString(w, `{"status":"ok","id":"x","duplicate":false}`)
		case "/messages":
			_, _ = io.WriteString(w, `{"data":[],"next_cursor":null}`)
		case "/sources":
			_, _ = io.WriteString(w, `{"data":[]}`)
		case "/deliveries":
			_, _ = io.WriteString(w, `{"data":[],"next_cursor":null}`)
		default:
			_, _ = io.WriteString(w, `{"total_messages":0,"senders_count":0,"top_senders":[],"first_received_at":null,"last_received_at":null,"sources":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return reqs
	}
}

func TestClientOptions(t *testing.T) {
	url, got := recorder(t)
	verifier, err := signature.NewVerifier([][]byte{[]byte("opt-secret")}, signature.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var editorRan int
	client, err := gen.NewClientWithResponses(url,
		gen.WithRequestEditorFn(func(context.Context, *http.Request) error { editorRan++; return nil }),
		gen.WithWebhookSecret("opt-secret"),
		gen.WithBearerToken("opt-token"),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The typed call re-marshals the message: the signature must cover the bytes sent.
	msg := gen.WebhookMessage{Id: "1", Sender: "a <b>", Content: "ü & \u2028"}
	if _, err := client.PostWebhookWithResponse(ctx, nil, msg); err != nil {
		t.Fatal(err)
	}
	raw := `{"id":"2", "sender":"a","content":"","extra":[1, 2]}` + "\n"
	if _, err := client.PostWebhookWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PostWebhookWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ListMessagesWithResponse(ctx, &gen.ListMessagesParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetStatsWithResponse(ctx); err != nil {
		t.Fatal(err)
	}
	// A source of the hookvault preset checks X-Signature as POST /webhook does.
	if _, err := client.PostWebhookSourceWithBodyWithResponse(ctx, "mine", "application/json", strings.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ListSourcesWithResponse(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ListDeliveriesWithResponse(ctx, &gen.ListDeliveriesParams{}); err != nil {
		t.Fatal(err)
	}
	// A POST without a body: the bearer token is what the server checks; the signature of
	// the empty body that WithWebhookSecret adds is ignored there.
	if _, err := client.RedeliverWithResponse(ctx, 1); err != nil {
		t.Fatal(err)
	}

	reqs := got()
	if len(reqs) != 9 {
		t.Fatalf("server saw %d requests, want 9", len(reqs))
	}
	for i, r := range reqs {
		if a := r.header.Get("Authorization"); a != "Bearer opt-token" {
			t.Errorf("request %d (%s %s): Authorization = %q", i, r.method, r.path, a)
		}
		sig := r.header.Get(signature.HeaderSignature)
		if r.method == http.MethodGet {
			if sig != "" {
				t.Errorf("request %d (GET %s) is signed: %q", i, r.path, sig)
			}
			continue
		}
		if _, err := verifier.Verify(r.header, r.body); err != nil {
			t.Errorf("request %d (%s %s, body %q): %v", i, r.method, r.path, r.body, err)
		}
	}
	if string(reqs[1].body) != raw {
		t.Errorf("raw body arrived as %q, want %q", reqs[1].body, raw)
	}
	if reqs[5].path != "/webhook/mine" || string(reqs[5].body) != raw {
		t.Errorf("request 5 = %s %q, want the raw body to /webhook/mine", reqs[5].path, reqs[5].body)
	}
	if editorRan != 9 {
		t.Errorf("WithRequestEditorFn editor ran %d times, want 9: the options must append, not replace", editorRan)
	}
}

func TestClientOptionsRejectBadValues(t *testing.T) {
	const token = "tok en-9d2e"
	tests := []struct {
		name string
		opt  gen.ClientOption
		want string
	}{
		{"empty secret", gen.WithWebhookSecret(""), "secret is empty"},
		{"empty token", gen.WithBearerToken(""), "token is empty"},
		{"token with a space", gen.WithBearerToken(token), "spaces or control characters"},
		{"token with a newline", gen.WithBearerToken("tok\n"), "spaces or control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := gen.NewClientWithResponses("http://127.0.0.1:1", tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
}
