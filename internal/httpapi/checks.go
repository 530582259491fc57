package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/provider"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
)

// This file is the request path of every operation in the spec, in the contract's order:
//
//  0. source      404  (POST /webhook/{source}: a configured source; POST /webhook: the
//                       default source, configured by WEBHOOK_SECRET)
//  1. body size   413  (declared length at once; otherwise while reading)
//  2. media type  415
//  3. signature   401  (on the raw bytes, before anything parses them)
//     or bearer   401  (the read API)
//  4. JSON/schema 422, parameters 400  (kin-openapi against api/openapi.yaml; the source's
//                       preset for POST /webhook/{source})
//
// then the generated strict handler. Which steps apply to an operation is read from the spec:
// a request body means steps 1–2, a security scheme means step 3.

const (
	webhookRoute       = "/webhook"
	webhookSourceRoute = "/webhook/{source}"
)

// securitySchemes says which check enforces each of the spec's security schemes. A scheme in
// the spec that is not listed here is a start-up error, so no operation can be declared
// secured without being checked.
var securitySchemes = map[string]string{
	"webhookSignature": "signature",
	"githubSignature":  "signature",
	"standardWebhooks": "signature",
	"svixSignature":    "signature",
	"sourceSignature":  "source",
	"bearerAuth":       "bearer",
}

// operation is what the request path needs to know about one operation of the spec.
type operation struct {
	route  *routers.Route
	body   bool
	signed bool // POST /webhook's schemes
	source bool // the scheme of the source named in the path
	bearer bool
	// fast replaces kin-openapi for a body that is an object of strings (POST /webhook).
	fast *objectOfStrings
}

// operations maps method and chi pattern to an operation; a struct key builds no string per
// request. OpenAPI paths and chi patterns are written the same way, so the route that chi
// found is the spec's path: no second router.
type operations map[opKey]*operation

type opKey struct{ method, path string }

func loadOperations(doc *openapi3.T) (operations, error) {
	ops := operations{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			reqs := op.Security
			if reqs == nil {
				reqs = &doc.Security
			}
			o := &operation{body: op.RequestBody != nil}
			if o.body && onlySignatureHeaders(slices.Concat(item.Parameters, op.Parameters)) && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && len(op.RequestBody.Value.Content) == 1 {
					o.fast = compileObjectOfStrings(mt.Schema)
				}
			}
			for _, req := range *reqs {
				for name := range req {
					switch securitySchemes[name] {
					case "signature":
						o.signed = true
					case "source":
						o.source = true
					case "bearer":
						o.bearer = true
					default:
						return nil, fmt.Errorf("%s %s: security scheme %q has no check", method, path, name)
					}
				}
			}
			if (o.signed || o.source) && o.bearer { // the checks run both; alternatives of two kinds would need OR
				return nil, fmt.Errorf("%s %s: signature and bearer alternatives in one operation are not supported", method, path)
			}
			// kin-openapi would check security again, after reading the body once more; the
			// signature step has done it, so kin gets the operation without requirements.
			unsecured := *op
			unsecured.Security = &openapi3.SecurityRequirements{}
			o.route = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: &unsecured}
			ops[opKey{method, path}] = o
		}
	}
	return ops, nil
}

// onlySignatureHeaders reports whether params are optional headers of a signature scheme,
// which the fast validator may leave unchecked: the signature step (3) reads them before it,
// and a request whose webhook-* or svix-* headers do not verify never gets that far. Any
// other parameter needs kin-openapi.
func onlySignatureHeaders(params openapi3.Parameters) bool {
	for _, p := range params {
		if p.Value == nil || p.Value.In != openapi3.ParameterInHeader || p.Value.Required ||
			!strings.HasPrefix(strings.ToLower(p.Value.Name), "webhook-") && !strings.HasPrefix(strings.ToLower(p.Value.Name), "svix-") {
			return false
		}
	}
	return true
}

// checks runs steps 1–4 for the operation chi routed to. A request takes its processing
// slot only once its body is in: slow senders wait on the body deadline, not in a slot. A
// request with a body goes on with it as a delivery in place of r.Body: read once, verified,
// validated, and decoded by the validator alone.
func (a *api) checks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead { // routed to the GET handler (observe), and checked as it
			method = http.MethodGet
		}
		op := a.ops[opKey{method, chi.RouteContext(r.Context()).RoutePattern()}]
		if op == nil {
			fail(w, r, fmt.Errorf("route %s %s is not in the spec", r.Method, r.URL.Path))
			return
		}
		w.Header()["Cache-Control"] = noStore
		info := infoFrom(r.Context())
		if (op.signed || op.source) && a.receiving != nil {
			a.receiving.Add(1)
			defer a.receiving.Add(-1)
		}
		// A refused delivery goes to the rejection journal once it is answered, with the
		// body still held (release gives it back to the byte budget after).
		var raw []byte
		var d *delivery
		release := func() {}
		defer func() {
			if info.result == "invalid_signature" {
				a.limits.signatureFailed(r)
			}
			if a.journal != nil && (op.signed || op.source) {
				a.recordRejection(r, info, raw, d)
			}
			release()
		}()
		var src *sources.Source
		switch {
		case op.source:
			name := chi.URLParam(r, "source")
			var ok bool
			if src, ok = a.sources().Get(name); !ok {
				fail(w, r, hookvault.Errorf(hookvault.ENOTFOUND, "no source %q; GET /sources lists them", clip(name)))
				return
			}
			info.source = name
		case op.signed:
			if a.verifier == nil {
				fail(w, r, hookvault.Errorf(hookvault.ENOTFOUND, "POST /webhook is not configured: set WEBHOOK_SECRET, or send to /webhook/{source}"))
				return
			}
			info.source = sources.Default
		}
		if op.body {
			limit := a.maxBodyBytes
			if src != nil && src.MaxBodyBytes > 0 {
				limit = src.MaxBodyBytes
			}
			var err error
			raw, release, err = a.readBody(w, r, limit)
			if err != nil {
				fail(w, r, err)
				return
			}
			d = newDelivery(raw, info.source, r.Header.Get("Content-Type"))
			r.Body = d
		}
		free, ok := a.limits.takeSlot(w, r)
		if !ok {
			return
		}
		defer free()
		if op.source {
			if err := a.checkSource(r, src, info, d); err != nil {
				fail(w, r, err)
				return
			}
			d.headers = storedHeaders(r.Header, d.contentType)
			next.ServeHTTP(w, r)
			return
		}
		if op.body {
			if err := checkJSONMediaType(r); err != nil {
				fail(w, r, err)
				return
			}
		}
		if op.signed {
			scheme, err := a.verifier.Verify(r.Header, raw)
			info.sigScheme = string(scheme)
			if err != nil {
				fail(w, r, a.signatureError(info, err))
				return
			}
			d.headers = storedHeaders(r.Header, d.contentType)
		}
		if op.bearer {
			if err := a.tokens.check(w, r); err != nil {
				fail(w, r, err)
				return
			}
		}
		if err := a.validate(r, op, d); err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Header values set on every answer (the names are canonical): one shared slice each instead
// of the one Header.Set allocates per request; nothing appends to or writes into them.
var (
	noStore         = []string{"no-store"}
	nosniff         = []string{"nosniff"}
	applicationJSON = []string{"application/json"}
)

// checkJSONMediaType accepts application/json and any */*+json, with any parameters, and
// then names the type application/json for the validator, which matches media types exactly.
func checkJSONMediaType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !isJSON(mt) {
		return hookvault.Errorf(hookvault.EUNSUPPORTED, "content type %q is not JSON; send application/json", clip(ct))
	}
	r.Header["Content-Type"] = applicationJSON
	return nil
}

// signatureError records the precise reason for logs and metrics and tells the caller only
// whether the signature was missing or wrong.
func (a *api) signatureError(info *requestInfo, err error) error {
	msg := "invalid signature"
	var scheme string
	var reason signature.Reason
	if se, ok := errors.AsType[*signature.Error](err); ok {
		scheme, reason = string(se.Scheme), se.Reason
	} else if pe, ok := errors.AsType[*provider.Error](err); ok {
		scheme, reason = pe.Scheme, pe.Reason
	}
	if reason != "" {
		info.sigScheme, info.sigReason = scheme, reason
		a.metrics.SignatureFailure(info.source, scheme, string(reason))
		if reason == signature.ReasonMissing {
			msg = "missing signature"
		}
	}
	return &hookvault.Error{Code: hookvault.EUNAUTHORIZED, Message: msg, Err: err}
}

// checkSource runs steps 2–4 for a delivery to a configured source: the media types its
// preset takes, its signature on the raw bytes, then what the preset reads from the body (its
// id and type, or a handshake to answer). A body of POST /webhook's format (the hookvault
// preset) is also validated against its schema, as on POST /webhook.
func (a *api) checkSource(r *http.Request, src *sources.Source, info *requestInfo, d *delivery) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" {
		// No Content-Type at all: a source whose preset takes any body (Accepts("")) takes
		// this one too; the generic scheme's senders are not bound to send one.
		mt, err = "", nil
	}
	if err != nil || !src.Accepts(mt) {
		return hookvault.Errorf(hookvault.EUNSUPPORTED, "content type %q is not one that source %q (provider %s) sends",
			clip(ct), info.source, src.Provider)
	}
	req := provider.Request{Method: r.Method, URL: r.URL, Header: r.Header, Body: d.raw}
	if err := src.Verify(req); err != nil {
		return a.signatureError(info, err)
	}
	if isJSON(mt) {
		if len(d.raw) == 0 {
			return hookvault.Errorf(hookvault.EINVALID, "request body is empty; send a JSON object")
		}
		if err := checkUnicode(d.raw); err != nil {
			return err
		}
	} else {
		// A body of another type holds JSON only where Read parses it (a form's payload
		// field, or a body that a json: rule reads): Read hands each such document to the
		// same check. A JSON body was checked whole above, so it is not scanned twice.
		req.CheckJSON = checkUnicodeIn
	}
	read, err := src.Read(req)
	if err != nil {
		if re, ok := errors.AsType[*provider.ReadError](err); ok {
			return hookvault.Errorf(hookvault.EINVALID, "%s", re.Detail)
		}
		if he, ok := errors.AsType[*hookvault.Error](err); ok { // from CheckJSON
			return he
		}
		return &hookvault.Error{Code: hookvault.EINVALID, Message: "the body cannot be read as this provider's delivery", Err: err}
	}
	d.read = read
	if read.Challenge == nil && src.Provider == "hookvault" {
		value, err := a.webhookBody.validate(d.raw)
		if err != nil {
			return err
		}
		d.value = value
	}
	return nil
}

func isJSON(mediaType string) bool {
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// clip shortens a value a caller sent before it is quoted in a detail.
func clip(s string) string {
	if len(s) > 100 {
		return strings.ToValidUTF8(s[:100], "") + "…"
	}
	return s
}

// validate checks parameters and body against the spec, and leaves the body's validated
// value with the delivery d (nil for an operation without a body). Malformed JSON is caught
// first with a byte offset in the detail, and because kin-openapi's decoder ignores trailing
// data; the fast validator's decode checks the syntax itself, so its body is not scanned twice.
func (a *api) validate(r *http.Request, op *operation, d *delivery) error {
	if op.body {
		if len(d.raw) == 0 {
			return hookvault.Errorf(hookvault.EINVALID, "request body is empty; send a JSON object")
		}
		if err := checkUnicode(d.raw); err != nil {
			return err
		}
		if op.fast != nil {
			value, err := op.fast.validate(d.raw)
			d.value = value
			return err
		}
		if !json.Valid(d.raw) {
			return malformedJSON(d.raw)
		}
	}
	if err := a.validateWithKin(r, op); err != nil {
		return err
	}
	if op.body {
		// kin-openapi left its decoded value in r.Body (Options.KeepValidatedValue); the
		// delivery carries it on, and r.Body is the delivery again.
		if v, ok := r.Body.(interface{ ValidatedValue() any }); ok {
			d.value = v.ValidatedValue()
		}
		d.Reset(d.raw)
		r.Body = d
	}
	return nil
}

func (a *api) validateWithKin(r *http.Request, op *operation) error {
	var params map[string]string
	if rc := chi.RouteContext(r.Context()); len(rc.URLParams.Keys) > 0 {
		params = make(map[string]string, len(rc.URLParams.Keys))
		for i, k := range rc.URLParams.Keys {
			params[k] = rc.URLParams.Values[i]
		}
	}
	err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: op.route, Options: &a.validation,
	})
	if err != nil {
		return validationError(err)
	}
	return nil
}

func malformedJSON(raw []byte) error {
	var v any
	err := json.Unmarshal(raw, &v)
	detail := "malformed JSON"
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		detail = fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	return &hookvault.Error{Code: hookvault.EINVALID, Message: detail, Err: err}
}

// validationError turns a kin-openapi error into a detail that names the field or parameter.
// kin's own Error() is multi-line and quotes the schema and the offending value (which may be
// most of a megabyte), so neither the caller nor the log gets it whole.
func validationError(err error) error {
	re, ok := errors.AsType[*openapi3filter.RequestError](err)
	switch {
	case !ok:
		return &hookvault.Error{Code: hookvault.EBADREQUEST, Message: "the request does not match the API contract", Err: brief(err)}
	case re.Parameter != nil:
		return hookvault.Errorf(hookvault.EBADREQUEST, "parameter %q: %s", re.Parameter.Name, reason(re))
	}
	if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
		field := "body"
		if ptr := se.JSONPointer(); len(ptr) > 0 {
			field = "body field /" + strings.Join(ptr, "/")
		}
		return hookvault.Errorf(hookvault.EINVALID, "%s: %s", field, schemaReason(se))
	}
	return hookvault.Errorf(hookvault.EINVALID, "body: %s", reason(re))
}

func reason(re *openapi3filter.RequestError) string {
	if se, ok := errors.AsType[*openapi3.SchemaError](re.Err); ok {
		return schemaReason(se)
	}
	if re.Reason != "" {
		return re.Reason
	}
	return "invalid value"
}

// schemaReason is kin's reason, except for formats, whose reason quotes a regular expression.
func schemaReason(se *openapi3.SchemaError) string {
	if se.SchemaField == "format" && se.Schema != nil {
		if se.Schema.Format == "date-time" {
			return "must be an RFC 3339 date-time such as 2026-11-29T17:00:00Z"
		}
		return fmt.Sprintf("must be in the %q format", se.Schema.Format)
	}
	return se.Reason
}

// brief keeps the first line of an error, at most 200 bytes, for the log.
func brief(err error) error {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return errors.New(s)
}
