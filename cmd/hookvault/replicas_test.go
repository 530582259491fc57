package main

// Several hookvault processes on one PostgreSQL, proven with the real binary and a real
// server: replicas that share a schema store every id once however deliveries are spread or
// raced, replicas that start together migrate once, and a replica whose database goes away
// answers 503 with Retry-After, never acknowledges what it did not store, and recovers by
// itself. Without HOOKVAULT_TEST_POSTGRES_URL these tests skip (fail under CI), see pgtest.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/lock"

	"github.com/hookvault/hookvault/internal/pgtest"
	"github.com/hookvault/hookvault/internal/problem"
)

const (
	replicaSecret   = "replica-secret"
	replicaToken    = "replica-token"
	replicaDBSecret = "replica-db-password"
)

// replicaEnv is the settings of a replica on dbURL; entries of extra win over them.
func replicaEnv(dbURL string, extra ...string) []string {
	return append([]string{"WEBHOOK_SECRET=" + replicaSecret, "API_TOKEN=" + replicaToken, "DATABASE_URL=" + dbURL}, extra...)
}

// startReplica starts the built server on dbURL and returns its address. When the test
// fails, the end of the replica's log is shown: most failures here are explained there.
func startReplica(t *testing.T, dbURL string, extra ...string) string {
	t.Helper()
	addr, _ := startReplicaWithLog(t, dbURL, extra...)
	return addr
}

// startReplicaWithLog is startReplica that also returns a function which stops the replica
// (SIGTERM) and returns all it logged after its listening line.
func startReplicaWithLog(t *testing.T, dbURL string, extra ...string) (addr string, stop func() string) {
	t.Helper()
	addr, cmd, rest := start(t, replicaEnv(dbURL, extra...)...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		_ = cmd.Process.Kill()
		lines := strings.Split(strings.TrimSpace(rest()), "\n")
		t.Logf("last lines of the replica on %s:\n%s", addr, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	})
	return addr, func() string {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return rest()
	}
}

// replicaClient keeps connections alive across requests, as webhook senders do, with
// enough idle connections per host for every sender of a test.
func replicaClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func replicaBody(id, sender string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"sender":%q,"content":"delivery %s"}`, id, sender, id)
}

// pgConnect opens a direct connection to dbURL, never through a replica or a proxy, so the
// test reads what PostgreSQL holds.
func pgConnect(t *testing.T, dbURL string) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return ctx, conn
}

// storedMessages returns every stored message's payload by id, read in one snapshot, after
// checking that no id is stored twice.
func storedMessages(t *testing.T, dbURL string) map[string][]byte {
	t.Helper()
	ctx, conn := pgConnect(t, dbURL)
	stored := map[string][]byte{}
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var rows, distinct int64
		if err := tx.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM messages`).Scan(&rows, &distinct); err != nil {
			return err
		}
		if rows != distinct {
			return fmt.Errorf("%d rows for %d distinct ids", rows, distinct)
		}
		r, err := tx.Query(ctx, `SELECT id, payload FROM messages`)
		if err != nil {
			return err
		}
		var id, payload []byte
		_, err = pgx.ForEachRow(r, []any{&id, &payload}, func() error {
			stored[string(id)] = slices.Clone(payload)
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatalf("read the stored messages: %v", err)
	}
	return stored
}

// TestReplicasStoreEachIDOnce runs two replicas on one schema, migrated once beforehand as
// an operator would, and sends them load spread over both plus ids delivered to both at the
// same instant. PostgreSQL alone decides which delivery of an id is the first, so exactly one
// answer per id may say duplicate:false, and each id is one row.
func TestReplicasStoreEachIDOnce(t *testing.T) {
	dbURL := pgtest.Schema(t)
	bin := buildBinary(t)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("hookvault migrate: %v, want exit 0; output:\n%s", err, out)
	}
	var addrs [2]string
	for i := range addrs {
		addrs[i] = startReplica(t, dbURL, "DATABASE_AUTO_MIGRATE=false")
	}
	client := replicaClient(t)

	type answer struct {
		replica int
		webhookAnswer
	}
	var mu sync.Mutex
	bodies := map[string][]byte{}
	answers := map[string][]answer{}
	send := func(replica int, id string, body []byte) {
		a := postWebhook(client, addrs[replica], replicaSecret, body)
		mu.Lock()
		defer mu.Unlock()
		bodies[id] = body
		answers[id] = append(answers[id], answer{replica, a})
	}

	const spread, senders = 600, 8
	const twins, group = 200, 10 // group: ids released at once, each to both replicas
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := s; i < spread; i += senders {
				id := fmt.Sprintf("spread-%d", i)
				send((i/senders)%2, id, replicaBody(id, fmt.Sprintf("sender-%d", s)))
			}
		})
	}
	wg.Go(func() {
		for first := 0; first < twins; first += group {
			gate := make(chan struct{})
			var pair sync.WaitGroup
			for i := first; i < first+group; i++ {
				id := fmt.Sprintf("twin-%d", i)
				body := replicaBody(id, "twins")
				for replica := range addrs {
					pair.Go(func() {
						<-gate
						send(replica, id, body)
					})
				}
			}
			close(gate)
			pair.Wait()
		}
	})
	wg.Wait()

	var wrong []string
	wonBy := [2]int{}
	for id, as := range answers {
		want := 1
		if strings.HasPrefix(id, "twin-") {
			want = 2
		}
		first := 0
		for _, a := range as {
			switch {
			case a.err != nil:
				wrong = append(wrong, fmt.Sprintf("%s on replica %d: %v", id, a.replica, a.err))
			case a.status != http.StatusOK:
				wrong = append(wrong, fmt.Sprintf("%s on replica %d: status %d", id, a.replica, a.status))
			case !a.dup:
				first++
				if want == 2 {
					wonBy[a.replica]++
				}
			}
		}
		if len(as) != want || first != 1 {
			wrong = append(wrong, fmt.Sprintf("%s: %d answers, %d with duplicate:false; want %d and 1", id, len(as), first, want))
		}
	}
	if len(answers) != spread+twins {
		t.Fatalf("%d ids answered, want %d", len(answers), spread+twins)
	}
	slices.Sort(wrong)
	if len(wrong) > 0 {
		t.Fatalf("%d wrong answers, e.g.:\n  %s", len(wrong), strings.Join(wrong[:min(len(wrong), 20)], "\n  "))
	}
	// Both replicas winning some of the raced ids shows that the deliveries did race.
	t.Logf("%d ids, %d of them sent to both replicas at once; of these, replica 0 stored %d, replica 1 %d",
		len(answers), twins, wonBy[0], wonBy[1])

	stored := storedMessages(t, dbURL)
	for id, body := range bodies {
		if got, ok := stored[id]; !ok {
			t.Errorf("%s was acknowledged but is not stored", id)
		} else if !bytes.Equal(got, body) {
			t.Errorf("%s is stored as %q, sent as %q", id, got, body)
		}
	}
	for id := range stored {
		if bodies[id] == nil {
			t.Errorf("%q is stored but was never sent", id)
		}
	}

	// Each replica counts what all of them stored: the counters live in the shared database.
	for i, addr := range addrs {
		resp, body, err := getWithToken(client, addr, replicaToken, "/stats")
		var stats struct {
			TotalMessages *int64 `json:"total_messages"`
		}
		if err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(body, &stats) != nil || stats.TotalMessages == nil {
			t.Fatalf("GET /stats on replica %d: %v %s %v", i, resp, body, err)
		}
		if *stats.TotalMessages != int64(len(stored)) {
			t.Errorf("GET /stats on replica %d: total_messages %d, %d distinct ids stored", i, *stats.TotalMessages, len(stored))
		}
	}
}

// TestReplicasStartingTogetherMigrateOnce starts three replicas on an empty schema at once,
// each told to migrate: the migration lock must let one apply each migration while the
// others wait, and all of them must then serve. A replica told not to migrate refuses an
// empty schema and says what to run.
func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	dbURL := pgtest.Schema(t)
	bin := buildBinary(t)

	// One application_name for the three, so that the test can see their sessions.
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	appName := "hookvault-" + u.Query().Get("search_path")
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()

	type replica struct {
		addr   string
		log    *syncLog
		cmd    *exec.Cmd
		exited chan struct{}
		err    error // set before exited is closed
	}
	// The addresses are picked beforehand, so that nothing waits for one replica's start
	// before the next is launched.
	reps := make([]*replica, 3)
	for i := range reps {
		r := &replica{addr: freeAddr(t), log: &syncLog{}, exited: make(chan struct{})}
		r.cmd = exec.Command(bin)
		r.cmd.Env = append(os.Environ(), replicaEnv(u.String(), "LISTEN_ADDR="+r.addr)...)
		r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
		reps[i] = r
	}
	logs := func() string {
		var b strings.Builder
		for i, r := range reps {
			fmt.Fprintf(&b, "replica %d on %s:\n%s\n", i, r.addr, r.log)
		}
		return b.String()
	}

	// Started one after another, the replicas may well migrate one after another too. So the
	// test holds the migration lock (goose's advisory lock, which the replicas share through
	// the database) until all three are seen trying to take it: then they certainly contend.
	ctx, conn := pgConnect(t, dbURL)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.err = r.cmd.Wait(); close(r.exited) }()
		t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.exited })
	}
	waitFor(t, time.Minute, "three replicas waiting for the migration lock", func() bool {
		for _, r := range reps {
			select {
			case <-r.exited: // the wait below reports it
				return true
			default:
			}
		}
		var waiting int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND query LIKE '%pg_try_advisory_lock%'`, appName).Scan(&waiting)
		return err == nil && waiting == len(reps)
	}, logs)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lock.DefaultLockID); err != nil {
		t.Fatal(err)
	}
	released := time.Now()

	client := replicaClient(t)
	// Generous: a replica that finds the lock taken tries again only 5 seconds later.
	deadline := time.Now().Add(2 * time.Minute)
	for i, r := range reps {
		var last string
		waitFor(t, time.Until(deadline), fmt.Sprintf("replica %d to be ready", i), func() bool {
			select {
			case <-r.exited:
				t.Fatalf("replica %d exited (%v) instead of serving; the logs:\n%s", i, r.err, logs())
			default:
			}
			status, body := readiness(client, r.addr)
			last = fmt.Sprintf("%d %s", status, body)
			return status == http.StatusOK
		}, func() string { return fmt.Sprintf("last: %s; its log:\n%s", last, r.log) })
	}

	t.Logf("all %d replicas ready %v after the migration lock was released", len(reps), time.Since(released).Round(time.Millisecond))

	// Every migration file must appear once in goose's table, and version 0, which goose
	// writes when it creates the table, once too.
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "postgres", "migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found (%v)", err)
	}
	want := map[int64]int64{0: 1}
	for _, f := range files {
		v, err := strconv.ParseInt(strings.SplitN(filepath.Base(f), "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		want[v] = 1
	}
	rows, err := conn.Query(ctx, `SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int64{}
	var version, n int64
	if _, err := pgx.ForEachRow(rows, []any{&version, &n}, func() error { got[version] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("goose_db_version rows per version: %v, want %v", got, want)
	}

	empty := pgtest.Schema(t)
	runCtx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	refused := exec.CommandContext(runCtx, bin)
	refused.Env = append(os.Environ(), replicaEnv(empty, "LISTEN_ADDR=127.0.0.1:0", "DATABASE_AUTO_MIGRATE=false")...)
	out, err := refused.CombinedOutput()
	if runCtx.Err() != nil {
		t.Fatalf("a replica with DATABASE_AUTO_MIGRATE=false on an empty schema kept running; output:\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("DATABASE_AUTO_MIGRATE=false on an empty schema: %v, want a non-zero exit; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "hookvault migrate") || strings.Contains(string(out), "hookvault listening") {
		t.Fatalf("exit %d; the output should tell to run `hookvault migrate`, without listening:\n%s", exit.ExitCode(), out)
	}
	ctx, conn = pgConnect(t, empty)
	// A replica told not to migrate writes nothing, not even goose's version table: it may
	// run as a role without the right to create tables.
	for _, name := range []string{"messages", "goose_db_version"} {
		var table *string
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1)::text`, name).Scan(&table); err != nil || table != nil {
			t.Fatalf("after the refused start the schema has table %v (%v); want no %s", table, err, name)
		}
	}
}

// pgProxy forwards TCP connections to PostgreSQL. cut closes its listener and every
// connection at once, as a database crash or a lost network does (new connections are
// refused); restore listens again on the same port.
type pgProxy struct {
	target, addr string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
	loops sync.WaitGroup
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	p := &pgProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln := proxyListen(t)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.cut(); p.loops.Wait() })
	return p
}

// proxyListen listens on a loopback port below the kernel's ephemeral range. While the proxy
// is cut its port is free, and a port from that range could meanwhile be handed to an
// outgoing connection (even one aimed at the proxy itself: a TCP self-connect), which would
// then answer for the database or keep the proxy from coming back.
func proxyListen(t *testing.T) net.Listener {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	var err error
	for range 50 {
		var ln net.Listener
		port := low/2 + rand.IntN(low/2)
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return ln
		}
	}
	t.Fatalf("no free port for the proxy below %d: %v", low, err)
	return nil
}

func (p *pgProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.loops.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // cut
			}
			p.loops.Go(func() { p.forward(ln, c) })
		}
	})
}

func (p *pgProxy) forward(ln net.Listener, client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	p.mu.Lock()
	live := p.ln == ln // not cut since this connection was accepted
	if live {
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	}
	p.mu.Unlock()
	if !live {
		_ = client.Close()
		_ = server.Close()
		return
	}
	var copying sync.WaitGroup
	copying.Go(func() { _, _ = io.Copy(server, client); _ = server.Close(); _ = client.Close() })
	_, _ = io.Copy(client, server)
	_ = client.Close()
	_ = server.Close()
	copying.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// cut drops the connections with a reset, as a crashed host does, rather than a polite close.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	_ = p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *pgProxy) restore(t *testing.T) {
	t.Helper()
	var err error
	for range 50 { // the port may take a moment to be free again
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the proxy cannot listen on %s again: %v", p.addr, err)
}

// Phases of the outage test. A delivery is judged by the phases in which it was sent and
// answered; the phase changes after a cut and before a restore, so a delivery sent and
// answered in phaseCut lived entirely while PostgreSQL was unreachable.
const (
	phaseHealthy = iota
	phaseCut
	phaseRestored // the proxy is back; readiness not yet seen
	phaseReady
	phaseKilled // and phaseKilled+k for the k-th pg_terminate_backend round
)

func phaseName(p int) string {
	switch {
	case p >= phaseKilled:
		return fmt.Sprintf("after pg_terminate_backend round %d", p-phaseKilled+1)
	case p == phaseReady:
		return "after readiness returned"
	case p == phaseRestored:
		return "restored, before readiness"
	case p == phaseCut:
		return "during the cut"
	}
	return "before the cut"
}

// outageLoad keeps senders delivering distinct ids to one replica and judges every answer.
type outageLoad struct {
	phase atomic.Int32
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once

	mu     sync.Mutex
	sent   map[string][]byte // every id delivered, with its body
	sentIn map[string]int    // the phase in which each id was sent
	acked  map[string]bool   // ids answered 2xx
	counts map[[2]int]int    // {phase sent, status} → answers; status 0: no answer
	streak int               // 200s in a row among deliveries sent in the current phase
	bad    []string          // answers the contract forbids
	nbad   int
}

func startOutageLoad(t *testing.T, client *http.Client, addr string, senders int) *outageLoad {
	l := &outageLoad{stop: make(chan struct{}), sent: map[string][]byte{}, sentIn: map[string]int{}, acked: map[string]bool{}, counts: map[[2]int]int{}}
	for s := range senders {
		l.done.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("outage-%d-%d", s, i)
				body := replicaBody(id, fmt.Sprintf("sender-%d", s))
				sentIn := int(l.phase.Load())
				a := postWebhook(client, addr, replicaSecret, body)
				l.record(id, body, sentIn, int(l.phase.Load()), a)
				if a.status != http.StatusOK {
					// A sender backs off after a 503 (far less than Retry-After asks, to keep
					// the test short); without it the senders spin on instant refusals.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

func (l *outageLoad) halt() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}

func (l *outageLoad) record(id string, body []byte, sentIn, answeredIn int, a webhookAnswer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = body
	l.sentIn[id] = sentIn
	status := a.status
	if a.err != nil {
		status = 0
	}
	l.counts[[2]int{sentIn, status}]++
	wrong := func(format string, args ...any) {
		l.nbad++
		if len(l.bad) < 20 {
			l.bad = append(l.bad, fmt.Sprintf("%s (sent %s): ", id, phaseName(sentIn))+fmt.Sprintf(format, args...))
		}
	}
	switch {
	case a.err != nil:
		wrong("no answer: %v", a.err)
	case status == http.StatusOK:
		l.acked[id] = true
		if a.dup {
			wrong("duplicate:true for an id delivered once")
		}
		if sentIn == phaseCut && answeredIn == phaseCut {
			wrong("200 while PostgreSQL was unreachable")
		}
	case status == http.StatusServiceUnavailable:
		if n, err := strconv.Atoi(a.retryAfter); err != nil || n <= 0 {
			wrong("503 with Retry-After %q, want a number of seconds", a.retryAfter)
		}
		if a.contentType != problem.ContentType {
			wrong("503 with Content-Type %q, want %s", a.contentType, problem.ContentType)
		}
	default:
		wrong("status %d; only 200 and 503 are allowed", status)
	}
	if sentIn == int(l.phase.Load()) {
		if status == http.StatusOK {
			l.streak++
		} else {
			l.streak = 0
		}
	}
}

func (l *outageLoad) setPhase(p int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase.Store(int32(p))
	l.streak = 0
}

func (l *outageLoad) restartStreak() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.streak = 0
}

func (l *outageLoad) count(phase, status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[[2]int{phase, status}]
}

func (l *outageLoad) streakOf200() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.streak
}

// report counts the answers per phase, for failure messages and the issue note.
func (l *outageLoad) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	phases := map[int][]string{}
	var keys []int
	for k, n := range l.counts {
		if phases[k[0]] == nil {
			keys = append(keys, k[0])
		}
		phases[k[0]] = append(phases[k[0]], fmt.Sprintf("%d×%d", n, k[1]))
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, p := range keys {
		slices.Sort(phases[p])
		fmt.Fprintf(&b, "  sent %s: %s\n", phaseName(p), strings.Join(phases[p], ", "))
	}
	fmt.Fprintf(&b, "  %d ids sent, %d acknowledged, %d forbidden answers", len(l.sent), len(l.acked), l.nbad)
	if len(l.bad) > 0 {
		fmt.Fprintf(&b, ", e.g.:\n    %s", strings.Join(l.bad, "\n    "))
	}
	return b.String()
}

// readiness returns /health/ready's status and body.
func readiness(client *http.Client, addr string) (int, string) {
	resp, body, err := getWithToken(client, addr, replicaToken, "/health/ready")
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(body)
}

// TestPostgresOutageAnswers503AndRecovers runs one replica through a proxy that the test
// cuts and restores under load, then kills the replica's backends from PostgreSQL's side,
// several times. Throughout, every answer is a 200 or a 503 with Retry-After; nothing is
// acknowledged that is not stored; readiness follows the database; and the same process
// recovers without a restart. Finally the deliveries refused with 503 are retried, as a
// sender would, and every id ends up stored exactly once.
func TestPostgresOutageAnswers503AndRecovers(t *testing.T) {
	dbURL := pgtest.Schema(t)
	direct, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := direct.Host
	if direct.Port() == "" {
		target = net.JoinHostPort(direct.Hostname(), "5432")
	}
	proxy := newPGProxy(t, target)

	// A name of its own, so that pg_terminate_backend reaches this replica's backends only,
	// never those of tests running in parallel on the same server.
	appName := "hookvault-" + direct.Query().Get("search_path")
	via := *direct
	via.Host = proxy.addr
	// The server trusts local connections, so any password connects; none may be logged,
	// in the outage's error lines least of all.
	via.User = url.UserPassword(direct.User.Username(), replicaDBSecret)
	q := via.Query()
	q.Set("application_name", appName)
	via.RawQuery = q.Encode()
	addr, stop := startReplicaWithLog(t, via.String(), "DATABASE_TIMEOUT=2s")

	client := replicaClient(t)
	load := startOutageLoad(t, client, addr, 4)
	waitFor(t, time.Minute, "100 deliveries acknowledged before the cut",
		func() bool { return load.count(phaseHealthy, http.StatusOK) >= 100 }, load.report)

	proxy.cut()
	load.setPhase(phaseCut)
	cutAt := time.Now()
	waitFor(t, time.Minute, "20 answers 503 to deliveries sent during the cut",
		func() bool { return load.count(phaseCut, http.StatusServiceUnavailable) >= 20 }, load.report)
	for range 2 {
		if status, body := readiness(client, addr); status != http.StatusServiceUnavailable || !strings.Contains(body, `"store":"unavailable"`) {
			t.Fatalf("GET /health/ready while PostgreSQL is unreachable: %d %s; want 503 naming the store", status, body)
		}
	}
	// The read API fails the same way as ingestion: a retryable 503, not a 500.
	resp, body, err := getWithToken(client, addr, replicaToken, "/stats")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("GET /stats while PostgreSQL is unreachable: %d %s, Retry-After %q, Content-Type %q; want 503 problem+json with Retry-After",
			resp.StatusCode, body, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}

	load.setPhase(phaseRestored)
	restoredAt := time.Now()
	proxy.restore(t)
	waitFor(t, time.Minute, "GET /health/ready 200 after the restore", func() bool {
		status, _ := readiness(client, addr)
		return status == http.StatusOK
	}, load.report)
	readyAt := time.Now()
	load.setPhase(phaseReady)
	waitFor(t, time.Minute, "50 deliveries acknowledged in a row after readiness",
		func() bool { return load.streakOf200() >= 50 }, load.report)
	t.Logf("cut for %v; ready %v after the restore", restoredAt.Sub(cutAt).Round(time.Millisecond), readyAt.Sub(restoredAt).Round(time.Millisecond))

	ctx, conn := pgConnect(t, dbURL)
	for round := range 3 {
		rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, appName)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(pids) == 0 {
			t.Fatalf("round %d: backends of %s: %v (%v); want some", round+1, appName, pids, err)
		}
		load.setPhase(phaseKilled + round)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, pids); err != nil {
			t.Fatal(err)
		}
		// pg_terminate_backend only signals: the run of successes that proves recovery counts
		// from when the backends are gone, not from deliveries that beat the kill.
		waitFor(t, time.Minute, "the terminated backends to exit", func() bool {
			var left int
			return conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&left) == nil && left == 0
		}, load.report)
		load.restartStreak()
		waitFor(t, time.Minute, fmt.Sprintf("50 deliveries acknowledged in a row after pg_terminate_backend round %d", round+1),
			func() bool { return load.streakOf200() >= 50 }, load.report)
		waitFor(t, time.Minute, "GET /health/ready 200 after pg_terminate_backend", func() bool {
			status, _ := readiness(client, addr)
			return status == http.StatusOK
		}, load.report)
		t.Logf("pg_terminate_backend round %d: %d backends", round+1, len(pids))
	}
	load.halt()
	t.Logf("answers by the phase in which they were sent (count×status):\n%s", load.report())
	if load.nbad > 0 {
		t.Errorf("%d answers the contract forbids", load.nbad)
	}

	stored := storedMessages(t, dbURL)
	for id := range load.acked {
		if got, ok := stored[id]; !ok || !bytes.Equal(got, load.sent[id]) {
			t.Errorf("%s was acknowledged; stored: %v %q", id, ok, got)
		}
	}
	for id := range stored {
		if load.sent[id] == nil {
			t.Errorf("%q is stored but was never sent", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// What a sender does next: retry every refused delivery. Those whose commit went through
	// before the answer was lost come back as duplicates; the rest are stored now.
	retried, dups := 0, map[string]int{}
	for id, body := range load.sent {
		if load.acked[id] {
			continue
		}
		retried++
		a := postWebhook(client, addr, replicaSecret, body)
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("retry of %s: %d %v; want 200", id, a.status, a.err)
		}
		if a.dup {
			dups[phaseName(load.sentIn[id])]++
		} else if stored[id] != nil {
			t.Errorf("retry of %s answered duplicate:false, but it was stored before", id)
		}
	}
	t.Logf("%d acknowledged under load, %d refused and retried; stored despite the 503 (duplicate on retry), by phase sent: %v",
		len(load.acked), retried, dups)
	stored = storedMessages(t, dbURL)
	if len(stored) != len(load.sent) {
		t.Fatalf("%d ids stored after the retries, %d sent", len(stored), len(load.sent))
	}
	for id, body := range load.sent {
		if !bytes.Equal(stored[id], body) {
			t.Fatalf("%s: stored %q, sent %q", id, stored[id], body)
		}
	}

	log := stop()
	if !strings.Contains(log, `"status":503`) {
		t.Fatalf("the replica's log has no 503 line: the check below would prove little")
	}
	if strings.Contains(log, replicaDBSecret) {
		t.Errorf("the database password is in the replica's log")
	}
}
