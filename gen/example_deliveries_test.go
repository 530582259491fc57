package gen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/hookvault/hookvault/gen"
)

// Finding the deliveries your app refused, and sending one again once the app is fixed.
func ExampleClientWithResponses_RedeliverWithResponse() {
	// An app that refuses everything for good (any 4xx but 429 fails a delivery at once).
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusGone)
	}))
	defer app.Close()
	dir, err := os.MkdirTemp("", "hookvault-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	sourcesFile := filepath.Join(dir, "sources.yaml")
	destinations := fmt.Sprintf("destinations:\n  - name: app\n    url: %s\n    secret: whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3\n", app.URL)
	if err := os.WriteFile(sourcesFile, []byte(destinations), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	addr, stop := startExampleServer("--sources-file=" + sourcesFile)
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
	if _, err := client.PostWebhookWithResponse(ctx, nil, gen.WebhookMessage{Id: "evt-1", Sender: "alice", Content: "hello"}); err != nil {
		fmt.Println(err)
		return
	}

	// The relay attempts the delivery at once; wait for the app's refusal.
	failed := new(gen.Failed)
	var refused []gen.Delivery
	for deadline := time.Now().Add(10 * time.Second); len(refused) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, err := client.ListDeliveriesWithResponse(ctx, &gen.ListDeliveriesParams{Destination: new("app"), Status: failed})
		if err != nil {
			fmt.Println(err)
			return
		}
		if list.JSON200 == nil {
			fmt.Println(list.Status(), string(list.Body))
			return
		}
		refused = list.JSON200.Data
	}
	if len(refused) == 0 {
		fmt.Println("the app was not called")
		return
	}
	for _, d := range refused {
		last := d.Attempts[len(d.Attempts)-1]
		fmt.Println("refused:", d.Did, d.Source, d.MessageId, *last.StatusCode)
	}

	again, err := client.RedeliverWithResponse(ctx, refused[0].Did)
	if err != nil {
		fmt.Println(err)
		return
	}
	if again.JSON202 == nil { // 409: it is pending already; 404: no such delivery
		fmt.Println(again.Status(), string(again.Body))
		return
	}
	fmt.Println("retried:", again.JSON202.Did, again.JSON202.Status, "attempts kept:", len(again.JSON202.Attempts))
	// Output:
	// refused: 1 default evt-1 410
	// retried: 1 pending attempts kept: 1
}
