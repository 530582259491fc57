package httpapi

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/gen"
	"github.com/hookvault/hookvault/internal/hookvault"
)

// deliveryCursorPrefix marks a deliveries cursor, so that a message cursor passed to
// GET /deliveries (or this one to GET /messages) is refused rather than misread.
const deliveryCursorPrefix = "did/"

// encodeDeliveryCursor makes the opaque next_cursor of a deliveries page: the DID to
// continue before. 0 means the last page.
func encodeDeliveryCursor(before int64) *string {
	if before <= 0 {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte(deliveryCursorPrefix + strconv.FormatInt(before, 10)))
	return &s
}

// decodeDeliveryCursor reads a next_cursor of GET /deliveries. Only the form encode makes
// is taken ("+5" or "05" are not), so a cursor names one position.
func decodeDeliveryCursor(s string) (int64, error) {
	bad := hookvault.Errorf(hookvault.EBADREQUEST, `parameter "cursor": not a next_cursor returned by GET /deliveries`)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, bad
	}
	digits, ok := strings.CutPrefix(string(raw), deliveryCursorPrefix)
	if !ok {
		return 0, bad
	}
	did, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || did <= 0 || strconv.FormatInt(did, 10) != digits {
		return 0, bad
	}
	return did, nil
}

// outbox returns the deliveries store, or an error when the server was built without one.
func (a *api) outbox() (hookvault.Deliveries, error) {
	if a.deliveries == nil {
		return nil, hookvault.Errorf(hookvault.EINTERNAL, "this server keeps no outbox")
	}
	return a.deliveries, nil
}

// ListDeliveries answers one keyset page of deliveries, newest first.
func (a *api) ListDeliveries(ctx context.Context, req gen.ListDeliveriesRequestObject) (gen.ListDeliveriesResponseObject, error) {
	store, err := a.outbox()
	if err != nil {
		return nil, err
	}
	p := req.Params
	f := hookvault.DeliveryFilter{Limit: defaultLimit}
	if p.Limit != nil {
		f.Limit = *p.Limit
	}
	if p.Destination != nil {
		f.Destination = *p.Destination
	}
	if p.Status != nil {
		f.Status = hookvault.DeliveryStatus(*p.Status)
	}
	if p.Source != nil {
		f.Source = *p.Source
	}
	if p.Cursor != nil {
		if f.Before, err = decodeDeliveryCursor(*p.Cursor); err != nil {
			return nil, err
		}
	}
	page, err := store.ListDeliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListDeliveries200JSONResponse{Data: make([]gen.Delivery, len(page.Deliveries)), NextCursor: encodeDeliveryCursor(page.Next)}
	for i, d := range page.Deliveries {
		out.Data[i] = deliveryOut(d)
	}
	return out, nil
}

// GetDelivery answers one delivery with its attempts.
func (a *api) GetDelivery(ctx context.Context, req gen.GetDeliveryRequestObject) (gen.GetDeliveryResponseObject, error) {
	store, err := a.outbox()
	if err != nil {
		return nil, err
	}
	d, err := store.GetDelivery(ctx, req.Did)
	if err != nil {
		return nil, err
	}
	return gen.GetDelivery200JSONResponse(deliveryOut(d)), nil
}

// Redeliver makes a delivered or failed delivery pending again and wakes its destination's
// worker, which would otherwise find it only at its next poll.
func (a *api) Redeliver(ctx context.Context, req gen.RedeliverRequestObject) (gen.RedeliverResponseObject, error) {
	store, err := a.outbox()
	if err != nil {
		return nil, err
	}
	d, err := store.Redeliver(ctx, req.Did)
	if err != nil {
		return nil, err
	}
	if a.notify != nil {
		a.notify([]string{d.Destination})
	}
	return gen.Redeliver202JSONResponse(deliveryOut(d)), nil
}

// deliveryOut is a delivery as the API shows it: null for the times a status has not got,
// and an attempt's status code or error null where it has none.
func deliveryOut(d hookvault.Delivery) gen.Delivery {
	out := gen.Delivery{
		Did: d.DID, Destination: d.Destination, Source: d.Source, MessageId: d.MessageID,
		Status: gen.DeliveryStatus(d.Status), CreatedAt: d.CreatedAt.UTC(), Tries: d.Tries,
		NextAttemptAt: timeOrNull(d.NextAttemptAt), DeliveredAt: timeOrNull(d.DeliveredAt),
		Attempts: make([]gen.DeliveryAttempt, len(d.Attempts)),
	}
	for i, at := range d.Attempts {
		a := gen.DeliveryAttempt{At: at.At.UTC(), DurationMs: at.Duration.Milliseconds()}
		if at.StatusCode != 0 {
			a.StatusCode = &at.StatusCode
		}
		if at.Error != "" {
			a.Error = &at.Error
		}
		out.Attempts[i] = a
	}
	return out
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
