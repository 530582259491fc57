package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/provider"
)

// firstBuffer is the most a body buffer starts with: it then doubles as bytes arrive, up to
// the declared length, so a client that declares a megabyte and sends a byte holds a few
// KiB, not a megabyte.
const firstBuffer = 8 << 10

// readBody reads the whole body once, refusing more than the body limit (413), a body that
// does not arrive within the body deadline (408), and growth beyond the body budget (503).
// The returned function gives the bytes back to the budget; call it when the request is done
// with them.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, limit int64) (raw []byte, release func(), err error) {
	if r.ContentLength > limit {
		return nil, func() {}, tooLarge(limit)
	}
	client := infoFrom(r.Context()).client
	var held int64
	release = func() {
		if a.limits.bodies != nil {
			a.limits.bodies.release(client, held)
		}
	}
	if r.ContentLength == 0 {
		return []byte{}, release, nil
	}
	// The most the buffer may need: the declared length, or for a chunked body one byte
	// over the limit, which is how the limit is noticed.
	bound := limit + 1
	if r.ContentLength > 0 {
		bound = r.ContentLength
	}
	grow := func(buf []byte) ([]byte, error) {
		size := min(max(int64(cap(buf))*2, firstBuffer), bound)
		if a.limits.bodies != nil {
			if reason := a.limits.bodies.reserve(client, size-int64(cap(buf)), size); reason != "" {
				a.metrics.Shed(reason)
				if reason == "client_body_bytes" {
					return nil, hookvault.Errorf(hookvault.EUNAVAILABLE, "this client address has too many request body bytes in flight; retry later")
				}
				return nil, hookvault.Errorf(hookvault.EUNAVAILABLE, "server overloaded: too many request body bytes in flight; retry later")
			}
		}
		held = size
		return append(make([]byte, 0, size), buf...), nil
	}
	// The deadline covers this body only: it is lifted once the body is in, so that it cannot
	// cut a slow answer short. A body refused half way is not read further: net/http would
	// otherwise read up to 256 KiB more of it after the answer, for as long as the sender
	// takes, before it closes the connection.
	rc := http.NewResponseController(w)
	if d := a.limits.bodyTimeout; d > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(d))
	}
	defer func() {
		if err != nil {
			w.Header().Set("Connection", "close")
			_ = rc.SetReadDeadline(time.Now())
		} else if a.limits.bodyTimeout > 0 {
			_ = rc.SetReadDeadline(time.Time{})
		}
	}()
	// MaxBytesReader tells the server to close the connection once the limit is hit, so
	// that the 413 is sent at once instead of after the server has tried to read the rest;
	// that only works with the server's own ResponseWriter, not a middleware's wrapper.
	body := http.MaxBytesReader(innermost(w), r.Body, limit)
	buf := []byte(nil)
	for int64(len(buf)) < bound {
		if len(buf) == cap(buf) {
			if buf, err = grow(buf); err != nil {
				return nil, release, err
			}
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// What was read goes back with the error: the journal keeps the start of a
			// body refused as too large.
			return buf, release, bodyReadError(err, limit)
		}
	}
	return buf, release, nil
}

func bodyReadError(err error, limit int64) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge(limit)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &hookvault.Error{Code: hookvault.ETIMEOUT, Message: "the request body did not arrive in time", Err: err}
	}
	return &hookvault.Error{Code: hookvault.EBADREQUEST, Message: "the request body could not be read", Err: err}
}

// tooLarge is the answer to a body over limit bytes, built only when one is.
func tooLarge(limit int64) error {
	return hookvault.Errorf(hookvault.ETOOLARGE, "request body is larger than %d bytes", limit)
}

// innermost is the ResponseWriter that the server gave, under the middlewares' wrappers.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// delivery is a webhook request's one carrier of input: the body as read, once verified and
// validated, with what the checks read from it. The checks put it in place of r.Body, and it
// goes on from there whole: the generated strict server binds POST /webhook's typed body from
// its ValidatedValue (oapi-codegen's BindJSONBody) instead of decoding the bytes again, and
// the webhook handlers are built with it (see webhooks in router.go). Nothing of it is
// written after the checks.
type delivery struct {
	bytes.Reader        // raw again, for any reader of r.Body (in the carrier: no allocation of its own)
	raw          []byte // the body as received: what was verified and is stored
	// value is the body as validated, for the typed body: the members of POST /webhook's
	// object, or kin-openapi's decoded value; nil when nothing decoded it.
	value any
	// read is what a source's preset read from the delivery.
	read provider.Delivery
	// source is the source the delivery is for; contentType (as received: the checks may name
	// a JSON type application/json for the validator) and headers are kept with its message.
	source      string
	contentType string
	headers     []byte
}

func newDelivery(raw []byte, source, contentType string) *delivery {
	d := &delivery{raw: raw, source: source, contentType: contentType}
	d.Reset(raw)
	return d
}

func (d *delivery) Close() error { return nil }

// ValidatedValue is what BindJSONBody binds the typed body from.
func (d *delivery) ValidatedValue() any { return d.value }
