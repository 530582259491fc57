// Command sdkuser uses hookvault's client SDK the way a program in another module does.
// TestSDKFromOutsideModule (cmd/hookvault/sdk_outside_test.go) copies it into a throwaway
// module whose go.mod requires github.com/hookvault/hookvault through a replace directive,
// runs it with `go run` against a real server and compares what it prints. It lives under
// testdata, so the hookvault module's own build, vet and tests leave it alone.
//
// It reads HOOKVAULT_URL, WEBHOOK_SECRET and API_TOKEN from the environment.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hookvault/hookvault/gen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sdkuser:", err)
		os.Exit(1)
	}
}

func run() error {
	url := os.Getenv("HOOKVAULT_URL")
	client, err := gen.NewClientWithResponses(url,
		gen.WithWebhookSecret(os.Getenv("WEBHOOK_SECRET")), // signs every request with a body
		gen.WithBearerToken(os.Getenv("API_TOKEN")),        // the read API
	)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The typed call: the SDK encodes the struct and signs the bytes it sends. The second
	// delivery of the same id is a duplicate.
	msg := gen.WebhookMessage{Id: "sdk-1", Sender: "outside", Content: "hello from another module"}
	for range 2 {
		sent, err := client.PostWebhookWithResponse(ctx, nil, msg)
		if err != nil {
			return err
		}
		if sent.JSON200 == nil {
			return fmt.Errorf("POST /webhook: %s %s", sent.Status(), sent.Body)
		}
		fmt.Printf("posted %s duplicate=%t\n", sent.JSON200.Id, sent.JSON200.Duplicate)
	}

	// Raw bytes, as a forwarder sends them: signed as sent and stored byte for byte.
	raw := `{"id":"sdk-2", "sender":"outside", "content":"raw bytes", "extra":[1, 2]}`
	sent, err := client.PostWebhookWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader(raw))
	if err != nil {
		return err
	}
	if sent.JSON200 == nil {
		return fmt.Errorf("POST /webhook (raw): %s %s", sent.Status(), sent.Body)
	}
	fmt.Printf("posted %s duplicate=%t\n", sent.JSON200.Id, sent.JSON200.Duplicate)

	sender := "outside"
	page, err := client.ListMessagesWithResponse(ctx, &gen.ListMessagesParams{Sender: &sender})
	if err != nil {
		return err
	}
	if page.JSON200 == nil {
		return fmt.Errorf("GET /messages: %s %s", page.Status(), page.Body)
	}
	for _, m := range page.JSON200.Data {
		// Sender and content are pointers: messages from a provider's source have neither.
		if m.Sender == nil || m.Content == nil {
			return fmt.Errorf("GET /messages: %s/%s has no sender or content", m.Source, m.Id)
		}
		fmt.Printf("listed %s/%s %s %q\n", m.Source, m.Id, *m.Sender, *m.Content)
	}
	next := "null"
	if page.JSON200.NextCursor != nil {
		next = *page.JSON200.NextCursor
	}
	fmt.Println("next_cursor", next)

	// Ids are unique per source; nil parameters ask for the source default (POST /webhook).
	got, err := client.GetMessageWithResponse(ctx, "sdk-2", nil)
	if err != nil {
		return err
	}
	if got.JSON200 == nil || got.JSON200.PayloadBase64 != nil {
		return fmt.Errorf("GET /messages/sdk-2: %s %s", got.Status(), got.Body)
	}
	fmt.Printf("payload %s\n", got.JSON200.Payload)
	fmt.Printf("content_type %s\n", got.JSON200.ContentType)

	srcs, err := client.ListSourcesWithResponse(ctx)
	if err != nil {
		return err
	}
	if srcs.JSON200 == nil {
		return fmt.Errorf("GET /sources: %s %s", srcs.Status(), srcs.Body)
	}
	for _, src := range srcs.JSON200.Data {
		fmt.Printf("source %s %s %s %s\n", src.Name, src.Provider, src.Path, src.Id)
	}

	stats, err := client.GetStatsWithResponse(ctx)
	if err != nil {
		return err
	}
	if stats.JSON200 == nil {
		return fmt.Errorf("GET /stats: %s %s", stats.Status(), stats.Body)
	}
	fmt.Println("total_messages", stats.JSON200.TotalMessages)
	for _, sc := range stats.JSON200.Sources {
		fmt.Println("stats source", sc.Source, sc.Count)
	}

	// A wrong token: the answer is typed as the spec's 401 problem.
	wrong, err := gen.NewClientWithResponses(url, gen.WithBearerToken("not-the-token"))
	if err != nil {
		return err
	}
	denied, err := wrong.ListMessagesWithResponse(ctx, &gen.ListMessagesParams{})
	if err != nil {
		return err
	}
	if denied.ApplicationproblemJSON401 == nil {
		return fmt.Errorf("GET /messages with a wrong token: %s %s", denied.Status(), denied.Body)
	}
	fmt.Printf("wrong token %d %s\n", denied.StatusCode(), denied.ApplicationproblemJSON401.Detail)
	return nil
}
