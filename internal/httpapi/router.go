// Package httpapi is the HTTP edge: the router, the request path of every operation, the
// strict handlers generated from api/openapi.yaml, and the one table that turns errors into
// problem+json answers.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/go-chi/chi/v5"
	httpSwagger "github.com/swaggo/http-swagger/v2"

	spec "github.com/hookvault/hookvault/api"
	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/metrics"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
)

// Deps is what the HTTP API is built from.
type Deps struct {
	Store hookvault.Store
	// Verifier checks POST /webhook's signatures; nil when WEBHOOK_SECRET is not set, and
	// POST /webhook then answers 404.
	Verifier *signature.Verifier
	// Sources returns the configured sources, default included (a reload swaps them); nil
	// means none but default.
	Sources      func() *sources.Set
	Metrics      *metrics.Metrics
	Logger       *slog.Logger
	MaxBodyBytes int64
	// APITokens are the bearer tokens of the read API; none disables it.
	APITokens []string
	// Draining reports whether the server is shutting down; readiness then answers 503.
	Draining func() bool
	// Limits bound concurrency and per-client rate on the spec's operations.
	Limits Limits
	// Notify is told the destinations of each newly committed message, and the destination
	// of each delivery retried through the API, so that the relay attempts it at once
	// instead of at its next poll; nil when nothing is forwarded.
	Notify func(destinations []string)
	// Deliveries is the store's outbox, read and retried by the /deliveries operations; a
	// field of its own (rather than a type assertion on Store) so that the dependency is
	// visible where the server is wired. Nil answers those operations with 500.
	Deliveries hookvault.Deliveries
	// Journal takes the refused deliveries and conflicting bodies; nil records none.
	Journal Journal
	// Rejections is the store's journal, read by the /rejections operations.
	Rejections hookvault.Journal
	// Receiving counts the webhook deliveries being received, from their admission to their
	// answer (what the relay and the journal yield to); nil counts nothing.
	Receiving *atomic.Int64
}

type api struct {
	store        hookvault.Store
	verifier     *signature.Verifier
	sources      func() *sources.Set
	webhookBody  *objectOfStrings // POST /webhook's schema, also for sources of the hookvault preset
	metrics      *metrics.Metrics
	log          *slog.Logger
	maxBodyBytes int64
	draining     func() bool
	ops          operations
	tokens       tokens
	validation   openapi3filter.Options
	limits       *limiter
	notify       func(destinations []string)
	deliveries   hookvault.Deliveries
	journal      Journal
	rejections   hookvault.Journal
	receiving    *atomic.Int64
}

// New returns the root handler.
//
// Layers, outermost first: observe (request id, HEAD as GET, panics, metrics, access log) →
// routes.
// Operator endpoints (/metrics, /docs, /openapi.*) sit at the root; the operations of the
// spec sit in a group behind checks (see checks.go for their order).
func New(d Deps) (http.Handler, error) {
	doc, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	ops, err := loadOperations(doc)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	specJSON, err := fullSpecJSON()
	if err != nil {
		return nil, err
	}
	draining := d.Draining
	if draining == nil {
		draining = func() bool { return false }
	}
	srcs := d.Sources
	if srcs == nil {
		srcs = func() *sources.Set { return nil }
	}
	a := &api{
		store: d.Store, verifier: d.Verifier, sources: srcs, webhookBody: ops[opKey{http.MethodPost, webhookRoute}].fast,
		metrics: d.Metrics, log: d.Logger,
		maxBodyBytes: d.MaxBodyBytes, draining: draining, ops: ops, tokens: newTokens(d.APITokens),
		validation: newValidationOptions(), limits: newLimiter(d.Limits, d.Metrics, d.Logger),
		notify: d.Notify, journal: d.Journal, rejections: d.Rejections, deliveries: d.Deliveries,
		receiving: d.Receiving,
	}

	r := chi.NewRouter()
	// HEAD is served wherever GET is (observe); every method a route does not serve is a 405
	// that names the ones it does.
	r.Use(observe(d.Logger, d.Metrics, newRequestIDs()))
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed(func(req *http.Request) []string { return allowedMethods(r, req) }))

	r.Get("/metrics", d.Metrics.Handler().ServeHTTP)
	r.Get("/openapi.yaml", serveBytes("application/yaml", spec.Spec))
	r.Get("/openapi.json", serveBytes("application/json", specJSON))
	// Swagger UI's assets are relative to index.html, so every entry point lands there.
	toIndex := http.RedirectHandler("/docs/index.html", http.StatusMovedPermanently).ServeHTTP
	r.Get("/docs", toIndex)
	r.Get("/docs/", toIndex)
	docs := httpSwagger.Handler(httpSwagger.URL("/openapi.json"), httpSwagger.DeepLinking(true),
		// Keeps the token and secret entered under "Authorize" across page reloads (in the
		// browser's local storage; only the HMAC is ever sent).
		httpSwagger.PersistAuthorization(true),
		// "Try it out" on POST /webhook signs the body in the browser (docs.go).
		httpSwagger.UIConfig(map[string]string{"requestInterceptor": signingInterceptor}))
	policy, err := docsPolicy(docs)
	if err != nil {
		return nil, err
	}
	r.Get("/docs/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", policy)
		w.Header().Set("X-Frame-Options", "DENY")
		if r.Method == http.MethodHead { // http-swagger answers anything but GET with 405
			r = r.Clone(r.Context())
			r.Method = http.MethodGet
		}
		docs(w, r)
	})

	r.Group(func(g chi.Router) {
		// The per-client limits come before checks: a refused request costs no body read.
		g.Use(a.limits.admit, a.checks)
		options := gen.StrictHTTPServerOptions{
			RequestErrorHandlerFunc: func(w http.ResponseWriter, r *http.Request, err error) {
				fail(w, r, &hookvault.Error{Code: hookvault.EINVALID, Message: "malformed JSON body", Err: err})
			},
			ResponseErrorHandlerFunc: fail,
		}
		gen.HandlerWithOptions(webhooks{gen.NewStrictHandlerWithOptions(received{api: a}, nil, options), a, options}, gen.ChiServerOptions{
			BaseRouter:       g,
			ErrorHandlerFunc: paramError,
		})
	})
	return r, nil
}

// webhooks serves the two webhook operations through the generated strict server like every
// other, with strict handlers built for the request from the delivery that the checks
// verified (received): the strict request object of POST /webhook has room for the typed body
// alone, and the raw bytes it was read from are what is stored.
type webhooks struct {
	gen.ServerInterface
	api     *api
	options gen.StrictHTTPServerOptions
}

func (s webhooks) PostWebhook(w http.ResponseWriter, r *http.Request, params gen.PostWebhookParams) {
	s.strict(r).PostWebhook(w, r, params)
}

func (s webhooks) PostWebhookSource(w http.ResponseWriter, r *http.Request, source string) {
	s.strict(r).PostWebhookSource(w, r, source)
}

// strict is the strict server for r's delivery, which the checks put in r.Body.
func (s webhooks) strict(r *http.Request) gen.ServerInterface {
	d, _ := r.Body.(*delivery)
	return gen.NewStrictHandlerWithOptions(received{api: s.api, delivery: d}, nil, s.options)
}

// fullSpecJSON converts api/openapi.yaml to JSON. gen's embedded spec cannot serve: the
// generator drops the operations it was told not to generate (/metrics, /openapi.*).
func fullSpecJSON() ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec.Spec)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml to JSON: %w", err)
	}
	return b, nil
}

// paramError answers a parameter that the generated wrapper could not bind; kin-openapi has
// usually rejected it before with a better detail.
func paramError(w http.ResponseWriter, r *http.Request, err error) {
	msg := "a parameter is invalid"
	if pe, ok := errors.AsType[*gen.InvalidParamFormatError](err); ok {
		msg = fmt.Sprintf("parameter %q: invalid format", pe.ParamName)
	}
	fail(w, r, &hookvault.Error{Code: hookvault.EBADREQUEST, Message: msg, Err: brief(err)})
}

// newValidationOptions are kin-openapi's options. Defaults would make kin re-encode the body;
// the handler stores the raw bytes. kin keeps the value it decoded and validated, which the
// delivery carries on to the typed body (see validate).
func newValidationOptions() openapi3filter.Options {
	return openapi3filter.Options{SkipSettingDefaults: true, KeepValidatedValue: true}
}

func serveBytes(contentType string, b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	}
}

// allowedMethods lists the methods routed for the request's path, for the Allow header of a
// 405 (chi adds it only with its own plain-text handler). HEAD is served wherever GET is.
func allowedMethods(routes chi.Routes, r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions} {
		if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	return allowed
}
