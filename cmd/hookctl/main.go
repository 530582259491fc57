// Command hookctl is the command-line client of hookvault: it signs bodies and posts signed
// messages through the generated SDK, so what it sends is what a real webhook sender sends,
// and it reads back what was stored (list, get, stats) through the same SDK. bulk sends
// signed load through internal/loadgen with net/http, as any HTTP client does; hookbench
// drives the same generator with a cheaper sender of its own.
//
// Flags may also come from the environment: --url from HOOKVAULT_URL, --secret from
// WEBHOOK_SECRET and --token from API_TOKEN, the same variables the server reads, so one
// exported value serves both.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/kong"

	"github.com/hookvault/hookvault/gen"
)

// Exit statuses: 1 for a failed operation, 2 for a command line (or environment) that
// cannot work, so scripts can tell "fix the call" from "the call failed".
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// envTag names the struct tag that ties a flag to its environment variable. kong's own `env`
// tag is not used because kong reads it with os.LookupEnv, which run's getenv could not
// replace, so tests would see the developer's environment.
const envTag = "envvar"

type cli struct {
	Sign       signCmd       `cmd:"" help:"Print the X-Signature of a body: hex HMAC-SHA256 under the webhook secret."`
	Send       sendCmd       `cmd:"" help:"Sign one message and post it to /webhook, or to a source's /webhook/NAME as its provider signs."`
	Bulk       bulkCmd       `cmd:"" help:"Send signed load from many connections; report throughput, latency and answers."`
	List       listCmd       `cmd:"" help:"List stored messages, oldest first, filtered and a page at a time."`
	Get        getCmd        `cmd:"" help:"Show one stored message with its payload as received."`
	Stats      statsCmd      `cmd:"" help:"Show totals, messages per source, top senders and the first and last arrival."`
	Sources    sourcesCmd    `cmd:"" help:"List the sources the server receives from, with their providers and id and type rules."`
	Rejections rejectionsCmd `cmd:"" help:"List refused deliveries and conflicting bodies, newest first, with the precise reason; show one; or follow new ones."`
	Deliveries deliveriesCmd `cmd:"" help:"List deliveries to your app's destinations, newest first: status, tries and the last error."`
	Redeliver  redeliverCmd  `cmd:"" help:"Send a failed or delivered delivery again."`
}

// streams is what a subcommand may touch of the process, bound into Run so tests can
// supply their own.
type streams struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// usageError is a failure the user fixes by changing the command line or the environment.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitSignal carries kong's requested exit status out of the parser, which would otherwise
// carry on after --help as if Exit had returned.
type exitSignal int

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: it returns the exit status, so tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			sig, ok := r.(exitSignal)
			if !ok {
				panic(r)
			}
			code = int(sig)
		}
	}()

	var c cli
	parser, err := kong.New(&c,
		kong.Name("hookctl"),
		kong.Description("Command-line client of hookvault, the signed webhook receiver."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(status int) { panic(exitSignal(status)) }),
		kong.Resolvers(envResolver(getenv)),
		kong.ValueFormatter(helpWithEnv),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
	)
	if err != nil { // a mistake in the grammar above, not in the user's call
		fmt.Fprintf(stderr, "hookctl: %v\n", err)
		return exitFailure
	}

	kctx, err := parser.Parse(args)
	if err != nil {
		// kong exits 80 on a parse error; 2 is what shells and scripts expect of a bad call.
		fmt.Fprintf(stderr, "hookctl: %v\n", err)
		fmt.Fprintf(stderr, "Run \"%s --help\" for usage.\n", helpPath(err))
		return exitUsage
	}

	err = kctx.Run(&streams{stdin: stdin, stdout: stdout, stderr: stderr})
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "hookctl: %v\n", err)
	var uerr *usageError
	if errors.As(err, &uerr) {
		return exitUsage
	}
	return exitFailure
}

// helpPath names the command whose help fits a parse error: the subcommand when one was
// recognised, else the program.
func helpPath(err error) string {
	var perr *kong.ParseError
	if errors.As(err, &perr) && perr.Context != nil {
		if node := perr.Context.Selected(); node != nil {
			return node.FullPath()
		}
	}
	return "hookctl"
}

// envResolver fills a flag the command line left unset from the variable named by its
// envvar tag. An empty variable counts as unset, as it does for the server.
func envResolver(getenv func(string) string) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
		name := flag.Tag.Get(envTag)
		if name == "" {
			return nil, nil
		}
		if v := getenv(name); v != "" {
			return v, nil
		}
		return nil, nil
	})
}

// helpWithEnv shows a flag's variable in --help the way kong shows its own env tag.
func helpWithEnv(value *kong.Value) string {
	name := value.Tag.Get(envTag)
	if name == "" {
		return kong.DefaultHelpValueFormatter(value)
	}
	help := strings.TrimSuffix(value.Help, ".")
	return help + " ($" + name + ")."
}

// secretFlag is the webhook secret, shared by every subcommand that signs.
type secretFlag struct {
	Secret string `envvar:"WEBHOOK_SECRET" placeholder:"SECRET" help:"Webhook secret; with several comma-separated secrets, the first signs. Prefer the variable: flags show in ps."`
}

// key returns the signing key. The server splits WEBHOOK_SECRET on commas and trims each
// member, so the same value exported for both must yield the same first key here.
func (f secretFlag) key() ([]byte, error) {
	if strings.TrimSpace(f.Secret) == "" {
		return nil, usagef("no webhook secret: set WEBHOOK_SECRET or pass --secret")
	}
	first, _, _ := strings.Cut(f.Secret, ",")
	first = strings.TrimSpace(first)
	if first == "" {
		return nil, usagef("the first secret in WEBHOOK_SECRET / --secret is empty (a leading comma?)")
	}
	return []byte(first), nil
}

// tokenFlag is the bearer token of the read API, shared by list, get, stats, sources,
// rejections, deliveries, redeliver and bulk --verify.
type tokenFlag struct {
	Token string `envvar:"API_TOKEN" placeholder:"TOKEN" help:"Bearer token of the read API; with several comma-separated tokens, the first is used. Prefer the variable: flags show in ps."`
}

// token returns the token to send. The server splits API_TOKEN on commas and trims each
// member, so the same value exported for both must yield the same first token here.
func (f tokenFlag) token() (string, error) {
	if strings.TrimSpace(f.Token) == "" {
		return "", usagef("no API token: set API_TOKEN or pass --token")
	}
	first, _, _ := strings.Cut(f.Token, ",")
	first = strings.TrimSpace(first)
	if first == "" {
		return "", usagef("the first token in API_TOKEN / --token is empty (a leading comma?)")
	}
	if strings.ContainsFunc(first, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", usagef("the token in API_TOKEN / --token contains spaces or control characters")
	}
	return first, nil
}

// outputFlag chooses between a table for people and JSON for programs. Output has no kong
// default (nor enum, which would need one), so that --json can tell an explicit --output
// table from none.
type outputFlag struct {
	Output string `short:"o" placeholder:"FORMAT" help:"Output format: table or json (default: table)."`
	JSON   bool   `name:"json" help:"Print JSON: the same as --output=json."`
}

func (f outputFlag) json() bool { return f.Output == "json" || f.JSON }

// check is called from the Validate of every command that embeds outputFlag.
func (f outputFlag) check() error {
	switch {
	case f.Output != "" && f.Output != "table" && f.Output != "json":
		return fmt.Errorf("--output must be table or json, not %q", f.Output)
	case f.JSON && f.Output == "table":
		return errors.New("--json and --output=table contradict each other; give one")
	}
	return nil
}

// readClient returns an SDK client that sends the bearer token, and the URL as it may be
// shown. The token is checked first, so that a missing one is a usage error whatever the URL.
func readClient(srv serverFlags, tok tokenFlag) (*gen.ClientWithResponses, string, error) {
	token, err := tok.token()
	if err != nil {
		return nil, "", err
	}
	return srv.client(gen.WithBearerToken(token))
}

// writeBody copies an answer's body to w unchanged, ending it with a newline if it lacks one.
func writeBody(w io.Writer, body []byte) error {
	if _, err := w.Write(body); err != nil {
		return err
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// newTable returns a tabwriter for hookctl's tables: columns two spaces apart, and no
// trailing spaces on rows whose last cells are blank.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(&trimWriter{w: w}, 0, 0, 2, ' ', 0)
}

// trimWriter drops the spaces that end a line: tabwriter pads a blank cell even when only
// blank cells follow it. It holds back a run of spaces until it sees what comes next.
type trimWriter struct {
	w      io.Writer
	spaces int
}

func (t *trimWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+t.spaces)
	for _, b := range p {
		switch b {
		case ' ':
			t.spaces++
			continue
		case '\n':
			t.spaces = 0
		}
		for ; t.spaces > 0; t.spaces-- {
			out = append(out, ' ')
		}
		out = append(out, b)
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// timeLayout shows arrival times in tables: UTC, to the millisecond, so that messages of the
// same second still read in order.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// printable makes text that webhook senders chose safe to show in a table: control
// characters (a newline or tab would break the columns, an escape sequence would drive the
// terminal), line separators and bidirectional overrides become spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) {
			return ' '
		}
		return r
	}, s)
}

// truncate shortens s to at most n runes, marking a cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// readInput reads a whole file, or standard input for "-".
func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	return b, nil
}
