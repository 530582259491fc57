package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/signature"
)

// This file is the request path of every operation in the spec, in the contract's order:
//
//  1. body size   413  (declared length at once; otherwise while reading)
//  2. media type  415
//  3. signature   401  (on the raw bytes, before anything parses them)
//     or bearer   401  (the read API)
//  4. JSON/schema 422, parameters 400  (kin-openapi against api/openapi.yaml)
//
// then the generated strict handler. Which steps apply to an operation is read from the spec:
// a request body means steps 1–2, a signature or bearer security scheme means step 3.

const webhookRoute = "/webhook"

// securitySchemes says which check enforces each of the spec's security schemes. A scheme in
// the spec that is not listed here is a start-up error, so no operation can be declared
// secured without being checked.
var securitySchemes = map[string]string{
	"webhookSignature": "signature",
	"githubSignature":  "signature",
	"standardWebhooks": "signature",
	"svixSignature":    "signature",
	"bearerAuth":       "bearer",
}

// operation is what the request path needs to know about one operation of the spec.
type operation struct {
	route  *routers.Route
	body   bool
	signed bool
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
			if o.body && len(op.Parameters)+len(item.Parameters) == 0 && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && len(op.RequestBody.Value.Content) == 1 {
					o.fast = compileObjectOfStrings(mt.Schema)
				}
			}
			for _, req := range *reqs {
				for name := range req {
					switch securitySchemes[name] {
					case "signature":
						o.signed = true
					case "bearer":
						o.bearer = true
					default:
						return nil, fmt.Errorf("%s %s: security scheme %q has no check", method, path, name)
					}
				}
			}
			if o.signed && o.bearer { // the checks run both; alternatives of two kinds would need OR
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

// checks runs steps 1–4 for the operation chi routed to. A request takes its processing
// slot only once its body is in: slow senders wait on the body deadline, not in a slot.
func (a *api) checks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := a.ops[opKey{r.Method, chi.RouteContext(r.Context()).RoutePattern()}]
		if op == nil {
			fail(w, r, fmt.Errorf("route %s %s is not in the spec", r.Method, r.URL.Path))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		info := infoFrom(r.Context())
		if op.body {
			raw, release, err := a.readBody(w, r)
			defer release()
			if err != nil {
				fail(w, r, err)
				return
			}
			info.raw = raw
		}
		free, ok := a.limits.takeSlot(w, r)
		if !ok {
			return
		}
		defer free()
		if op.body {
			if err := checkJSONMediaType(r); err != nil {
				fail(w, r, err)
				return
			}
		}
		if op.signed {
			scheme, err := a.verifier.Verify(r.Header, info.raw)
			info.sigScheme = scheme
			if err != nil {
				fail(w, r, a.signatureError(info, err))
				return
			}
		}
		if op.bearer {
			if err := a.tokens.check(w, r); err != nil {
				fail(w, r, err)
				return
			}
		}
		if err := a.validate(r, op, info); err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkJSONMediaType accepts application/json and any */*+json, with any parameters, and
// then names the type application/json for the validator, which matches media types exactly.
func checkJSONMediaType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		if len(ct) > 100 {
			ct = ct[:100] + "…"
		}
		return hookvault.Errorf(hookvault.EUNSUPPORTED, "content type %q is not JSON; send application/json", ct)
	}
	r.Header.Set("Content-Type", "application/json")
	return nil
}

// signatureError records the precise reason for logs and metrics and tells the caller only
// whether the signature was missing or wrong.
func (a *api) signatureError(info *requestInfo, err error) error {
	msg := "invalid signature"
	if se, ok := errors.AsType[*signature.Error](err); ok {
		info.sigReason = se.Reason
		a.metrics.SignatureFailures.WithLabelValues(string(se.Scheme), string(se.Reason)).Inc()
		if se.Missing() {
			msg = "missing signature"
		}
	}
	return &hookvault.Error{Code: hookvault.EUNAUTHORIZED, Message: msg, Err: err}
}

// validate checks parameters and body against the spec. Malformed JSON is caught first with
// a byte offset in the detail, and because kin-openapi's decoder ignores trailing data; the
// fast validator's decode checks the syntax itself, so its body is not scanned twice.
func (a *api) validate(r *http.Request, op *operation, info *requestInfo) error {
	raw := info.raw
	if op.body {
		if len(raw) == 0 {
			return hookvault.Errorf(hookvault.EINVALID, "request body is empty; send a JSON object")
		}
		if err := checkUnicode(raw); err != nil {
			return err
		}
		if op.fast != nil {
			values, err := op.fast.validate(raw)
			info.values = values
			return err
		}
		if !json.Valid(raw) {
			return malformedJSON(raw)
		}
	}
	return a.validateWithKin(r, op)
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
