package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/problem"
)

// retryAfterSeconds is what a 503 asks a sender to wait; webhook senders back off further
// on their own.
const retryAfterSeconds = 5

// signatureChallenge is the WWW-Authenticate challenge of a webhook refused for its
// signature. No standard scheme names HMAC request signatures; the scheme name says what is
// missing, and api/openapi.yaml documents it.
const signatureChallenge = `Signature realm="hookvault"`

// outcome is how one error code is answered: the only place where errors become statuses.
type outcome struct {
	status int
	result string // webhook_requests_total's label on POST /webhook
}

var outcomes = map[string]outcome{
	hookvault.ETOOLARGE:     {http.StatusRequestEntityTooLarge, "too_large"},
	hookvault.EUNSUPPORTED:  {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	hookvault.EUNAUTHORIZED: {http.StatusUnauthorized, "invalid_signature"},
	hookvault.EINVALID:      {http.StatusUnprocessableEntity, "validation_error"},
	hookvault.EBADREQUEST:   {http.StatusBadRequest, "validation_error"},
	hookvault.ENOTFOUND:     {http.StatusNotFound, "not_found"},
	hookvault.EUNAVAILABLE:  {http.StatusServiceUnavailable, "unavailable"},
	hookvault.ETIMEOUT:      {http.StatusRequestTimeout, "timeout"},
	hookvault.ECONFLICT:     {http.StatusConflict, "conflict"},
	hookvault.EINTERNAL:     {http.StatusInternalServerError, "error"},
}

// fail answers err as problem+json and records it for the access log line. Only the
// caller-facing message of a *hookvault.Error reaches the body; the cause goes to the log.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	code := hookvault.ErrorCode(err)
	o, ok := outcomes[code]
	if !ok {
		o = outcomes[hookvault.EINTERNAL]
	}
	info := infoFrom(r.Context())
	info.result = o.result
	info.err = err
	switch o.status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	case http.StatusUnauthorized:
		// RFC 9110 §11.6.1: a 401 carries a challenge. The bearer check sets its own; a
		// signature check's says only that a signature is needed, never why it failed.
		if w.Header().Get("WWW-Authenticate") == "" {
			w.Header().Set("WWW-Authenticate", signatureChallenge)
		}
	}
	p := problem.New(o.status, hookvault.ErrorMessage(err))
	p.RequestID = info.requestID
	problem.Write(w, p)
}

// notFound and methodNotAllowed replace chi's plain-text answers.
func notFound(w http.ResponseWriter, r *http.Request) {
	fail(w, r, hookvault.Errorf(hookvault.ENOTFOUND, "no route for %s %s; see /docs", r.Method, r.URL.Path))
}

func methodNotAllowed(allowed func(*http.Request) []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		methods := allowed(r)
		if len(methods) == 0 {
			// chi answers a method it does not know (FOO) before it looks
			// at the path: on a path that nothing serves, that is a 404.
			notFound(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		p := problem.New(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here")
		p.RequestID = infoFrom(r.Context()).requestID
		problem.Write(w, p)
	}
}

// logLevel is the level of the access log line for a status: server faults are errors,
// everything else is information.
func logLevel(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
