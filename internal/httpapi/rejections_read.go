package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// rejectionCursorPrefix marks a journal cursor, so that another listing's cursor is refused
// rather than misread.
const rejectionCursorPrefix = "rid/"

func encodeRejectionCursor(before int64) *string {
	if before <= 0 {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(rejectionCursorPrefix + strconv.FormatInt(before, 10)))
	return &s
}

// decodeRejectionCursor takes only the form encodeRejectionCursor makes.
func decodeRejectionCursor(s string) (int64, error) {
	bad := hookvault.Errorf(hookvault.EBADREQUEST, `parameter "cursor": not a next_cursor returned by GET /rejections`)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, bad
	}
	digits, ok := strings.CutPrefix(string(raw), rejectionCursorPrefix)
	if !ok {
		return 0, bad
	}
	rid, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || rid <= 0 || strconv.FormatInt(rid, 10) != digits {
		return 0, bad
	}
	return rid, nil
}

func (a *api) rejectionStore() (hookvault.Journal, error) {
	if a.rejections == nil {
		return nil, hookvault.Errorf(hookvault.EINTERNAL, "this server keeps no rejection journal")
	}
	return a.rejections, nil
}

// ListRejections answers one keyset page of the journal, newest first, as summaries.
func (a *api) ListRejections(ctx context.Context, req gen.ListRejectionsRequestObject) (gen.ListRejectionsResponseObject, error) {
	store, err := a.rejectionStore()
	if err != nil {
		return nil, err
	}
	p := req.Params
	f := hookvault.RejectionFilter{Limit: defaultLimit}
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Source != nil {
		f.Source = *p.Source
	}
	if p.Result != nil {
		f.Result = string(*p.Result)
	}
	if p.Since != nil {
		f.Since = *p.Since
	}
	if p.Until != nil {
		f.Until = *p.Until
	}
	if p.Cursor != nil {
		if f.Before, err = decodeRejectionCursor(*p.Cursor); err != nil {
			return nil, err
		}
	}
	page, err := store.ListRejections(ctx, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListRejections200JSONResponse{Data: make([]gen.RejectionSummary, len(page.Rejections)), NextCursor: encodeRejectionCursor(page.Next)}
	for i, r := range page.Rejections {
		out.Data[i] = rejectionSummary(r)
	}
	return out, nil
}

// GetRejection answers one entry with its headers and body.
func (a *api) GetRejection(ctx context.Context, req gen.GetRejectionRequestObject) (gen.GetRejectionResponseObject, error) {
	store, err := a.rejectionStore()
	if err != nil {
		return nil, err
	}
	r, err := store.GetRejection(ctx, req.Rid)
	if err != nil {
		return nil, err
	}
	s := rejectionSummary(r)
	out := gen.GetRejection200JSONResponse{
		Rid: s.Rid, ReceivedAt: s.ReceivedAt, Source: s.Source, Status: s.Status, Result: s.Result,
		Reason: s.Reason, RequestId: s.RequestId, RemoteAddr: s.RemoteAddr, BodySha256: s.BodySha256,
		BodySize: s.BodySize, MessageId: s.MessageId, FirstReceivedAt: s.FirstReceivedAt, Hints: s.Hints,
		Headers: map[string][]string{},
	}
	if len(r.Headers) > 0 {
		// Written by storedHeaders; anything else (a row written by hand) shows as none.
		_ = json.Unmarshal(r.Headers, &out.Headers)
	}
	if utf8.Valid(r.Body) {
		body := string(r.Body)
		out.Body = &body
	} else {
		b := r.Body
		out.BodyBase64 = &b
	}
	return out, nil
}

// rejectionSummary is an entry as GET /rejections lists it.
func rejectionSummary(r hookvault.Rejection) gen.RejectionSummary {
	s := gen.RejectionSummary{
		Rid: r.RID, ReceivedAt: r.ReceivedAt.UTC(), Source: r.Source, Status: r.Status,
		Result: gen.RejectionResult(r.Result), Reason: r.Reason, RequestId: r.RequestID,
		RemoteAddr: r.RemoteAddr, BodySize: r.BodySize, Hints: r.Hints,
		FirstReceivedAt: timeOrNull(r.FirstReceivedAt),
	}
	if s.Hints == nil {
		s.Hints = []string{}
	}
	if r.BodySHA256 != nil {
		h := hex.EncodeToString(r.BodySHA256)
		s.BodySha256 = &h
	}
	if r.MessageID != "" {
		id := r.MessageID
		s.MessageId = &id
	}
	return s
}
