package loadgen

import (
	"io"
	"net/http"
	"time"
)

var ceilingAnswer = []byte(`{"status":"ok","duplicate":false}` + "\n")

// NewCeilingServer returns the bare net/http server that hookvault is measured against: it
// reads the body and answers 200, nothing else, so its requests/s is what Go's HTTP stack
// alone serves on the machine. It has hookvault's limits, because each timeout costs a
// deadline per request and the ceiling should pay for them too.
func NewCeilingServer() *http.Server {
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header()["Content-Type"] = contentType
			_, _ = w.Write(ceilingAnswer)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
