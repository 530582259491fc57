package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/signature"
	"github.com/hookvault/hookvault/internal/sources"
)

// maxRetryAfter bounds what a destination can ask for with Retry-After.
const maxRetryAfter = time.Hour

// HTTPSender POSTs a message to an HTTP destination, signed with Standard Webhooks headers.
type HTTPSender struct {
	client *http.Client
	now    func() time.Time
	agent  string
}

// NewHTTPSender returns a sender with one connection pool for every destination: keep-alive
// connections are reused across attempts, up to sources.MaxConcurrency idle per host.
// Redirects are not followed: a webhook endpoint that moved must be configured anew, and a
// signed body must not be re-posted to wherever a 307 points.
func NewHTTPSender(userAgent string) *HTTPSender {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   sources.MaxConcurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0, // the attempt's context bounds the whole exchange
	}
	return &HTTPSender{
		client: &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		now:   time.Now,
		agent: userAgent,
	}
}

// WebhookID is the webhook-id (and Nats-Msg-Id) of a message: `{source}/{id}`, the same on
// every attempt so that the receiver can drop repeats. Bytes that a header cannot carry
// (controls, non-ASCII, %) are percent-encoded, so the value is deterministic and valid.
func WebhookID(source, id string) string {
	s := source + "/" + id
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Send implements Sender.
func (s *HTTPSender) Send(ctx context.Context, d *sources.Destination, c *hookvault.Claimed) Result {
	m := &c.Message
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(m.Payload))
	if err != nil {
		return Result{Err: err, Permanent: true}
	}
	id := WebhookID(m.Source, m.ID)
	ts := s.now().Unix()
	h := req.Header
	ct := m.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("User-Agent", s.agent)
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("Webhook-Signature", signature.SignStandardKey(d.Key, id, ts, m.Payload))
	h.Set("X-Hookvault-Source", m.Source)
	if m.Type != "" {
		h.Set("X-Hookvault-Type", headerValue(m.Type))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{Err: fmt.Errorf("no answer within %s", d.Timeout)}
		}
		return Result{Err: unwrapURLError(err)}
	}
	// Drain a little so the connection can be reused; an app's answer body is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return Result{StatusCode: code}
	case code == http.StatusTooManyRequests || code >= 500:
		return Result{StatusCode: code, Err: fmt.Errorf("HTTP %d", code), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), s.now())}
	case code >= 300 && code < 400:
		return Result{StatusCode: code, Err: fmt.Errorf("HTTP %d: redirects are not followed; configure the final URL", code), Permanent: true}
	default:
		return Result{StatusCode: code, Err: fmt.Errorf("HTTP %d", code), Permanent: true}
	}
}

// headerValue percent-encodes what a header value cannot carry (a type comes from a sender).
func headerValue(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return '_'
				}
				return r
			}, s)
		}
	}
	return s
}

// retryAfter reads Retry-After as seconds or an HTTP date, bounded by maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// unwrapURLError drops the "Post \"URL\":" that net/http puts in front of every error: the
// destination is known, and the URL may hold a credential.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
