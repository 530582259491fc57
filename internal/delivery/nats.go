package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/sources"
)

// DuplicateWindow is the stream's duplicate window when hookvault creates it: a message
// published again within it (after a crash between the ack and its record, or a lease that
// ran out) is dropped by JetStream, by its Nats-Msg-Id.
const DuplicateWindow = 10 * time.Minute

// NATSSender publishes messages to JetStream. It connects in the background and keeps
// reconnecting, so hookvault starts (and keeps receiving) while NATS is down; deliveries wait
// in the outbox meanwhile.
type NATSSender struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
	log    *slog.Logger

	mu       sync.Mutex
	subjects []string // the stream subjects the destinations need
	ensured  bool     // the stream exists and takes them
}

// NewNATSSender connects to url (retrying in the background) for the stream named stream.
func NewNATSSender(url, stream string, log *slog.Logger) (*NATSSender, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &NATSSender{stream: stream, log: log}
	nc, err := nats.Connect(url,
		nats.Name("hookvault"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; deliveries to NATS wait until it is back", slog.Any("error", err))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS connection back") }),
	)
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	s.nc, s.js = nc, js
	return s, nil
}

// Close drains nothing (the outbox holds what is not acknowledged) and disconnects.
func (s *NATSSender) Close() { s.nc.Close() }

// SetDestinations gives the subjects the stream must take: those of ds' NATS destinations.
// The stream is checked again before the next publish.
func (s *NATSSender) SetDestinations(ds []*sources.Destination) {
	var subjects []string
	for _, d := range ds {
		if d.NATSSubject != "" {
			if f := StreamSubject(d.NATSSubject); !slices.Contains(subjects, f) {
				subjects = append(subjects, f)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(subjects, s.subjects) {
		s.subjects, s.ensured = subjects, false
	}
}

// StreamSubject is the stream subject filter that takes every subject a template can make:
// {source} is one token (*); {type} may be several, so it and what follows become >.
func StreamSubject(template string) string {
	toks := strings.Split(template, ".")
	for i, t := range toks {
		switch {
		case strings.Contains(t, "{type}"):
			return strings.Join(append(toks[:i:i], ">"), ".")
		case strings.Contains(t, "{source}"):
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}

// ensureStream creates the stream when it is missing, and adds the subjects it lacks when it
// exists (it may be the user's own stream: its other settings are left alone).
func (s *NATSSender) ensureStream(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ensured {
		return nil
	}
	st, err := s.js.Stream(ctx, s.stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = s.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: s.stream, Subjects: s.subjects, Storage: jetstream.FileStorage,
			Duplicates: DuplicateWindow,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("creating stream %s: %w", s.stream, err)
		}
		if err == nil {
			s.log.Info("created NATS JetStream stream", slog.String("stream", s.stream), slog.Any("subjects", s.subjects))
		}
	case err != nil:
		return fmt.Errorf("stream %s: %w", s.stream, err)
	default:
		cfg := st.CachedInfo().Config
		var missing []string
		for _, sub := range s.subjects {
			if !slices.Contains(cfg.Subjects, sub) {
				missing = append(missing, sub)
			}
		}
		if len(missing) > 0 {
			cfg.Subjects = append(cfg.Subjects, missing...)
			if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
				return fmt.Errorf("adding subjects %v to stream %s: %w", missing, s.stream, err)
			}
			s.log.Info("added subjects to NATS JetStream stream", slog.String("stream", s.stream), slog.Any("subjects", missing))
		}
	}
	s.ensured = true
	return nil
}

// Send implements Sender: delivered when JetStream acknowledges the publish.
func (s *NATSSender) Send(ctx context.Context, d *sources.Destination, c *hookvault.Claimed) Result {
	if err := s.ensureStream(ctx); err != nil {
		return Result{Err: err}
	}
	m := &c.Message
	msg := nats.NewMsg(d.Subject(m.Source, m.Type))
	msg.Data = m.Payload
	msg.Header.Set(jetstream.MsgIDHeader, WebhookID(m.Source, m.ID))
	if m.ContentType != "" {
		msg.Header.Set("Content-Type", headerValue(m.ContentType))
	}
	msg.Header.Set("Hookvault-Source", m.Source)
	if m.Type != "" {
		msg.Header.Set("Hookvault-Type", headerValue(m.Type))
	}
	_, err := s.js.PublishMsg(ctx, msg)
	switch {
	case err == nil:
		return Result{}
	case errors.Is(err, nats.ErrMaxPayload):
		return Result{Err: err, Permanent: true}
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		// The stream was deleted, or its subjects changed under us: check it again.
		s.mu.Lock()
		s.ensured = false
		s.mu.Unlock()
	}
	if ctx.Err() != nil {
		return Result{Err: fmt.Errorf("no JetStream acknowledgement within %s: %w", d.Timeout, err)}
	}
	return Result{Err: err}
}
