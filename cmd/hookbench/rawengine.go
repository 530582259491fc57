package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookvault/hookvault/internal/loadgen"
	"github.com/hookvault/hookvault/internal/signature"
)

// The raw engine is the sender hookbench plugs into loadgen (Config.Connect) for every
// measurement: each worker keeps one TCP connection alive, writes its requests to it and
// reads the answers itself. It speaks HTTP/1.1 only, with no TLS, no proxy and no
// credentials from the URL, which is all a loopback benchmark needs.
//
// It exists because net/http's client, per request, hands the request to a writing
// goroutine and the answer back from a reading one, builds a Request, a Response and their
// header maps, and arms a timer for the timeout: on loopback that is most of the
// generator's CPU, more than the system calls. A worker here writes its request with one
// system call and reads the answer on its own goroutine, into buffers it keeps.
//
// It speaks as much HTTP/1.1 as an answer to a POST may use: Content-Length, chunked or
// close-delimited bodies, interim 1xx answers, Connection: close and HTTP/1.0, and takes
// them as net/http does. What it cannot read is an error, counted like any transport
// error, never guessed at.

// maxHeaderLine bounds one line of an answer's header.
const maxHeaderLine = 1 << 20

// staleAfter is how long a connection may sit idle before a worker checks, before using it
// again, that the server has not closed it meanwhile: net/http notices such a close at
// once, from the goroutine that waits on every idle connection, and never sends on it.
// Back-to-back requests skip the check, which costs a system call.
const staleAfter = time.Millisecond

// aLongTimeAgo is a deadline that has passed: setting it wakes a blocked read or write.
var aLongTimeAgo = time.Unix(1, 0)

// rawUnfit says why the raw engine cannot send to u, or "" if it can.
func rawUnfit(u *url.URL) string {
	switch {
	case u.Scheme != "http":
		return "it speaks plain HTTP, without TLS"
	case u.User != nil:
		return "it sends no credentials from the URL"
	}
	for i := 0; i < len(u.Host); i++ {
		// net/http would turn a non-ASCII name into punycode and drop an IPv6 zone from
		// the Host header; the raw engine sends the host as written.
		if c := u.Host[i]; c >= 0x80 || c == '%' {
			return "its host needs IDNA or has an IPv6 zone"
		}
	}
	return ""
}

// newRawConn is the raw engine's loadgen.Config.Connect: a worker's connection to endpoint,
// dialled at its first request.
func newRawConn(endpoint *url.URL, timeout time.Duration) (loadgen.Conn, error) {
	if why := rawUnfit(endpoint); why != "" {
		return nil, fmt.Errorf("the raw engine cannot send to %s: %s", endpoint.Redacted(), why)
	}
	c := &rawConn{timeout: timeout}
	c.dialAddr, c.reqHead = rawTarget(endpoint)
	return c, nil
}

// rawTarget returns the address to dial for u and the start of every request to it: the
// request line and the headers net/http sends, up to the value of Content-Length.
func rawTarget(u *url.URL) (dialAddr string, head []byte) {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	host := u.Host
	if u.Port() == "" {
		host = u.Hostname() // "host:" is sent as "host", as net/http does
		if strings.IndexByte(host, ':') >= 0 {
			host = "[" + host + "]"
		}
	}
	head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ",
		u.RequestURI(), host)
	return net.JoinHostPort(u.Hostname(), port), head
}

// appendRequest appends the bytes of a delivery of body signed with sig.
func (c *rawConn) appendRequest(dst, body, sig []byte) []byte {
	dst = append(dst, c.reqHead...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nContent-Type: application/json\r\n"+signature.HeaderSignature+": "...)
	dst = append(dst, sig...)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// rawConn is a worker's connection, dialled when first needed and again after the server
// closes it.
type rawConn struct {
	timeout  time.Duration
	dialAddr string // where to connect
	reqHead  []byte // every request's bytes up to Content-Length's value

	conn   net.Conn // nil when there is none
	br     *bufio.Reader
	stop   func() bool // stops the wake-up on ctx's end
	reused bool        // conn has carried a request before
	idle   time.Time   // when conn's last answer was read

	req  []byte // the request being sent
	body []byte // the latest answer's body
	line []byte // a header line longer than br's buffer
}

// Post sends one request and reads its answer. start is when the request began, from which
// the timeout runs, as net/http's Client.Timeout does.
func (c *rawConn) Post(ctx context.Context, body, sig []byte, start time.Time) (loadgen.Answer, error) {
	c.req = c.appendRequest(c.req[:0], body, sig)
	timeout := c.timeout
	for retried := false; ; retried = true {
		if c.conn != nil && start.Sub(c.idle) >= staleAfter && !alive(c.conn) {
			c.Close()
		}
		if c.conn == nil {
			if err := c.dial(ctx, start.Add(timeout)); err != nil {
				return loadgen.Answer{}, err
			}
		}
		if err := c.conn.SetDeadline(start.Add(timeout)); err != nil {
			c.Close()
			return loadgen.Answer{}, err
		}
		// ctx may have ended, and its wake-up set a past deadline, just before the line
		// above set a later one: then the request is abandoned here, rather than wait out
		// the timeout. After this check, a wake-up comes after the deadline set and wins.
		if err := ctx.Err(); err != nil {
			return loadgen.Answer{}, err
		}
		n, err := c.conn.Write(c.req)
		if err == nil {
			break
		}
		reused := c.reused
		c.Close()
		if n > 0 || !reused || retried {
			return loadgen.Answer{}, c.timeoutError(err)
		}
		// Nothing was written to a connection kept from an earlier request: the server
		// cannot have seen this one, so it goes out on a new connection, as net/http does.
	}
	a, keep, err := c.readAnswer()
	if err != nil || !keep {
		c.Close()
	} else {
		c.reused, c.idle = true, time.Now()
	}
	return a, c.timeoutError(err)
}

func (c *rawConn) timeoutError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("timeout %s exceeded: %w", c.timeout, err)
	}
	return err
}

func (c *rawConn) dial(ctx context.Context, deadline time.Time) error {
	d := net.Dialer{Timeout: 10 * time.Second, Deadline: deadline, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.dialAddr)
	if err != nil {
		return c.timeoutError(err)
	}
	c.conn, c.reused = conn, false
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 4<<10)
	} else {
		c.br.Reset(conn)
	}
	// A request in flight when ctx ends is abandoned: a past deadline wakes its worker.
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	return nil
}

// Close closes the connection, if there is one.
func (c *rawConn) Close() {
	if c.conn == nil {
		return
	}
	c.stop()
	_ = c.conn.Close()
	c.conn = nil
}

// readAnswer reads an answer, and whether the connection can carry another request.
func (c *rawConn) readAnswer() (a loadgen.Answer, keep bool, err error) {
	c.body = c.body[:0]
	length := int64(-1)
	var chunked bool
	for {
		line, err := c.readLine()
		if err != nil {
			if err == io.EOF {
				// No answer at all: the server closed the connection on the request.
				return a, false, io.EOF
			}
			return a, false, err
		}
		minor, status, ok := parseStatusLine(line)
		if !ok {
			return a, false, fmt.Errorf("malformed HTTP status line %q", line)
		}
		keep = minor == 1 // HTTP/1.0 keeps the connection only if it says so
		length, chunked = -1, false
		var sawRetryAfter bool
		for {
			line, err := c.readLine()
			if err != nil {
				return a, false, noEOF(err)
			}
			if len(line) == 0 {
				break
			}
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(name) == 0 {
				return a, false, fmt.Errorf("malformed HTTP header line %q", line)
			}
			value = bytes.Trim(value, " \t")
			switch {
			case asciiEqualFold(name, "Content-Length"):
				n, err := strconv.ParseUint(string(value), 10, 63)
				if err != nil || (length >= 0 && int64(n) != length) {
					return a, false, fmt.Errorf("bad Content-Length %q", value)
				}
				length = int64(n)
			case asciiEqualFold(name, "Transfer-Encoding"):
				if chunked || !asciiEqualFold(value, "chunked") {
					return a, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
				}
				chunked = true
			case asciiEqualFold(name, "Connection"):
				if hasToken(value, "close") {
					keep = false
				} else if minor == 0 && hasToken(value, "keep-alive") {
					keep = true
				}
			case asciiEqualFold(name, "Retry-After"):
				// The first, as http.Header.Get reads it; a string only for the 503s
				// that are reported.
				if status == http.StatusServiceUnavailable && !sawRetryAfter {
					a.RetryAfter, sawRetryAfter = string(value), true
				}
			}
		}
		if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
			continue // an interim answer; the final one follows
		}
		a.Status = status
		break
	}

	switch {
	case a.Status == http.StatusSwitchingProtocols:
		// Final, as net/http takes it, and the connection no longer speaks HTTP.
		keep = false
	case a.Status == http.StatusNoContent || a.Status == http.StatusNotModified:
		// No body, whatever the header says.
	case chunked:
		var more bool
		more, err = c.readChunked()
		keep = keep && !more
	case length >= 0:
		n := int(min(length, loadgen.MaxAnswer))
		c.body = slices.Grow(c.body, n)[:n]
		_, err = io.ReadFull(c.br, c.body)
		err = noEOF(err)
		keep = keep && length <= loadgen.MaxAnswer // the rest is not read
	default:
		// Neither a length nor chunks: the body ends with the connection.
		err = c.readBody(c.br)
		keep = false
	}
	a.Body = c.body
	if err != nil {
		return a, false, err
	}
	// Bytes that no request asked for put the connection out of step with its answers.
	return a, keep && c.br.Buffered() == 0, nil
}

// readChunked reads a chunked body and its trailer; more is true if the body went on past
// loadgen.MaxAnswer and was left unread.
func (c *rawConn) readChunked() (more bool, err error) {
	cr := httputil.NewChunkedReader(c.br)
	if err = c.readBody(cr); err != nil {
		return false, noEOF(err)
	}
	var one [1]byte
	if n, err := cr.Read(one[:]); n > 0 || (err != nil && err != io.EOF) {
		return true, noEOF(err)
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return false, noEOF(err)
		}
		if len(line) == 0 {
			return false, nil
		}
	}
}

// readBody appends what r has to c.body, up to loadgen.MaxAnswer bytes in all.
func (c *rawConn) readBody(r io.Reader) error {
	buf := bytes.NewBuffer(c.body)
	_, err := buf.ReadFrom(io.LimitReader(r, int64(loadgen.MaxAnswer-len(c.body))))
	c.body = buf.Bytes()
	return err
}

// readLine reads a line of the header without its line ending (CRLF or, leniently as in
// net/http, LF); the line is good until the next read.
func (c *rawConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.line = append(c.line[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(c.line) > maxHeaderLine {
				return nil, errors.New("HTTP header line too long")
			}
			line, err = c.br.ReadSlice('\n')
			c.line = append(c.line, line...)
		}
		line = c.line
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// noEOF turns an end of the connection inside an answer into the error it is.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseStatusLine reads "HTTP/1.x NNN reason", the reason optional, as net/http accepts it.
func parseStatusLine(line []byte) (minor, status int, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, 0, false
	}
	switch line[7] {
	case '0':
	case '1':
		minor = 1
	default:
		return 0, 0, false
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, 0, false
		}
		status = status*10 + int(d-'0')
	}
	return minor, status, true
}

// asciiEqualFold reports whether b is s, ignoring ASCII case, as header names compare.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token, ignoring case.
func hasToken(v []byte, token string) bool {
	for part := range bytes.SplitSeq(v, []byte(",")) {
		if asciiEqualFold(bytes.Trim(part, " \t"), token) {
			return true
		}
	}
	return false
}
