package main

// The contract and the README, proven with the real tools: Redocly CLI lints
// api/openapi.yaml, kin-openapi checks what every operation documents, and the README's
// shell examples are extracted from README.md and run with bash, curl, openssl and python3
// against the built server, so the README cannot drift from what the server answers.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hookvault/hookvault/internal/provider"
)

// ---------------------------------------------------------------------------------------
// The spec: Redocly's recommended rules, and what every operation must document.

// redoclyVersion is the @redocly/cli release that lints the spec, pinned so that a new
// release's rules cannot fail the build on their own. It needs Node.js 20.19+ or 22.12+.
const redoclyVersion = "2.77.0"

const specPath = "../../api/openapi.yaml"

// specNo4xxTags are the tags whose operations have no 4xx response: they take no parameters,
// body or credentials, so there is nothing a caller can get wrong. Every operation, these
// included, documents an error response (a 4xx or a 5xx); Redocly's
// operation-4xx-response warns about these and nothing else, and api/openapi.yaml says why.
var specNo4xxTags = map[string]string{
	"health":     "probes take no input",
	"operations": "operator endpoints (/metrics, /openapi.yaml, /openapi.json) take no input",
}

// specOperation is one operation of the spec.
type specOperation struct {
	method, path string
	op           *openapi3.Operation
}

func (o specOperation) String() string { return o.method + " " + o.path }

// no4xx reports whether the operation has no 4xx by design (specNo4xxTags says why).
func (o specOperation) no4xx() bool {
	for _, tag := range o.op.Tags {
		if _, ok := specNo4xxTags[tag]; ok {
			return true
		}
	}
	return false
}

// loadSpec loads api/openapi.yaml with kin-openapi, validates it (examples included, with
// JSON Schema's semantics) and returns its operations in a stable order.
func loadSpec(t *testing.T) []specOperation {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(specPath)
	if err != nil {
		t.Fatalf("load %s: %v", specPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not valid (kin-openapi, examples included): %v", specPath, err)
	}
	var ops []specOperation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, specOperation{method, path, op})
		}
	}
	slices.SortFunc(ops, func(a, b specOperation) int { return strings.Compare(a.String(), b.String()) })
	return ops
}

func hasExample(mt *openapi3.MediaType) bool {
	return mt != nil && (mt.Example != nil || len(mt.Examples) > 0)
}

func TestSpecPassesRedoclyLint(t *testing.T) {
	ops := loadSpec(t)

	t.Run("every operation documented", func(t *testing.T) {
		if len(ops) == 0 {
			t.Fatal("the spec has no operations")
		}
		for _, o := range ops {
			op := o.op
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", o)
			}
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s: no summary", o)
			}
			if strings.TrimSpace(op.Description) == "" {
				t.Errorf("%s: no description", o)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s: no tag (the tag also decides whether it must document error responses)", o)
			}
			if op.RequestBody != nil {
				if op.RequestBody.Value == nil || len(op.RequestBody.Value.Content) == 0 {
					t.Errorf("%s: the request body has no content", o)
				} else {
					for name, mt := range op.RequestBody.Value.Content {
						if !hasExample(mt) {
							t.Errorf("%s: request body %s has no example", o, name)
						}
					}
				}
			}
			ok := op.Responses.Status(200)
			if ok == nil { // an action carried out later, e.g. POST /deliveries/{did}/retry
				ok = op.Responses.Status(202)
			}
			if ok == nil || ok.Value == nil || len(ok.Value.Content) == 0 {
				t.Errorf("%s: no 200 (or 202) response with content", o)
			}
			hasError := false
			for code, r := range op.Responses.Map() {
				if code == "default" || strings.HasPrefix(code, "4") || strings.HasPrefix(code, "5") {
					hasError = true
				}
				if r.Value == nil {
					continue
				}
				// Examples on every response that has a body, the 200 and the errors alike.
				for name, mt := range r.Value.Content {
					if !hasExample(mt) {
						t.Errorf("%s: response %s %s has no example", o, code, name)
					}
				}
			}
			if !hasError {
				t.Errorf("%s: no error response (4xx, 5xx or default)", o)
			}
		}
	})

	t.Run("redocly lint", func(t *testing.T) {
		npx := needTool(t, "npx", "install Node.js 20.19+ or 22.12+ with npm (Debian: apt-get install -y nodejs npm)")
		// A fresh npm cache: the pinned release is fetched from the registry, nothing of the
		// machine's cache is used or changed.
		cache := t.TempDir()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npx, "--yes", "@redocly/cli@"+redoclyVersion, "lint",
			"--config", filepath.Join("testdata", "redocly.yaml"), "--format", "json", specPath)
		cmd.Env = append(os.Environ(), "npm_config_cache="+cache, "npm_config_update_notifier=false",
			"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		runErr := cmd.Run()

		var report struct {
			Totals   struct{ Errors, Warnings int }
			Version  string
			Problems []struct {
				RuleID   string
				Severity string
				Message  string
				Location []struct {
					Pointer string
					Start   struct{ Line, Col int }
				}
			}
		}
		if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
			t.Fatalf("redocly lint: %v (exit: %v); no JSON report: %v\nstdout:\n%s\nstderr:\n%s",
				cmd.Args, runErr, err, stdout.String(), stderr.String())
		}
		t.Logf("@redocly/cli %s: %d errors, %d warnings", report.Version, report.Totals.Errors, report.Totals.Warnings)
		if runErr != nil || report.Totals.Errors != 0 {
			t.Errorf("redocly lint exited with %v and %d errors", runErr, report.Totals.Errors)
		}

		// The warnings that remain are the ones api/openapi.yaml explains: no 4xx on the
		// operations that need no error response. Any other is to be fixed, or explained in
		// the spec and added here.
		allowed := map[string]bool{}
		for _, o := range ops {
			if o.no4xx() {
				esc := strings.NewReplacer("~", "~0", "/", "~1").Replace(o.path)
				allowed["operation-4xx-response #/paths/"+esc+"/"+strings.ToLower(o.method)+"/responses"] = true
			}
		}
		for _, p := range report.Problems {
			where, pointer := "", ""
			if len(p.Location) > 0 {
				pointer = p.Location[0].Pointer
				where = fmt.Sprintf("api/openapi.yaml:%d:%d %s", p.Location[0].Start.Line, p.Location[0].Start.Col, pointer)
			}
			switch {
			case p.Severity == "warn" && allowed[p.RuleID+" "+pointer]:
				t.Logf("documented warning: %s: %s (%s)", where, p.Message, p.RuleID)
			default:
				t.Errorf("%s %s: %s (%s)", p.Severity, where, p.Message, p.RuleID)
			}
		}
	})
}

// ---------------------------------------------------------------------------------------
// The README's shell examples, run for real.
//
// Which blocks: every ```sh block of README.md that talks to http://127.0.0.1:8000, the
// address of `make run`: the curl examples, and the hookctl block between them (it sets its
// HOOKVAULT_URL to that address, uses $BODY from the block before and stores the second
// message the later answers show); and the Python service's signing line (`python3 -c`,
// under "Coming from the Python webhook service"), which signs $BODY with $SECRET from the
// first block and must print the signature hookvault computes. They run in README order in
// one `bash -euo pipefail`
// session, as a reader pastes them into one terminal, against the built server started with
// the README's secret and token. The block that POSTs /webhook runs twice, because the prose
// after it says "Send it again and the answer is "duplicate":true". The server's sources are
// the README's `sources:` YAML, with the secrets its export line sets, plus what "Every row,
// tried" describes: a source per `hookctl send --source NAME --provider P` line that YAML
// lacks, with the YAML lines of P's row of the providers table (readmeTriedSources), so a
// wrong `url:`, `public_key:` or hmac field in the table fails the send line that uses it.
//
// Not run, as written they cannot be: the hookctl blocks without the address (list and get
// ask for the GitHub delivery 72d3162e-…, which no earlier block stores, and pipe into
// `head -3`, which under pipefail may fail on SIGPIPE; `hookctl rejections` is not bin/ and
// `--follow` never ends; `redeliver 42` needs a delivery 42; bulk is load, not an example).
//
// What is rewritten, and nothing else:
//   - 127.0.0.1:8000 becomes the test server's address.
//   - `go build -o bin/ PKGS`: the test runs it from the repository root into a temporary
//     bin/, and the script runs in the directory holding that bin/, so `bin/hookctl` is
//     the README's own build, called as written. The line itself becomes a no-op.
//
// What is checked: every command's output by hand (below), every curl answer is JSON and
// not a problem, and every `# {…}` comment under a command is its answer on the first run,
// where "…" stands for anything, and RFC 3339 times and the next_cursor value match any.
// The README writes no file: bodies go to hookctl on standard input.

const (
	readmeSecret = "dev-secret-change-me"
	readmeToken  = "dev-token-change-me"
	readmeAddr   = "127.0.0.1:8000"
)

type readmeBlock struct {
	line  int // README line number of the block's first line
	lines []string
}

// readmeCommand is one command of a block: its lines (with continuations) and the answer
// comment under it.
type readmeCommand struct {
	line   int // README line number
	text   string
	answer string
}

// readmeFenced returns the blocks of readme fenced by "```"+lang and "```", in order.
func readmeFenced(readme, lang string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```"+lang:
			cur = &readmeBlock{line: i + 2}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, line)
		}
	}
	return blocks
}

// readmeServerBlocks returns the ```sh blocks that talk to http://127.0.0.1:8000, and those
// that sign with `python3 -c` (which use the session's $SECRET and $BODY).
func readmeServerBlocks(readme string) []readmeBlock {
	var blocks []readmeBlock
	for _, b := range readmeFenced(readme, "sh") {
		if text := strings.Join(b.lines, "\n"); strings.Contains(text, "http://"+readmeAddr) || strings.Contains(text, "python3 -c ") {
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// commands splits a block into commands: a line that is not blank, not a comment and not the
// continuation of a line ending in a backslash starts one. Comment lines right under a
// command that start with `# {` are its answer, continued by the comment lines after them.
func (b readmeBlock) commands() (cmds []readmeCommand, starts map[int]bool) {
	starts = map[int]bool{}
	for i := 0; i < len(b.lines); i++ {
		line := strings.TrimSpace(b.lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := readmeCommand{line: b.line + i}
		starts[i] = true
		text := []string{line}
		for strings.HasSuffix(b.lines[i], `\`) && i+1 < len(b.lines) {
			i++
			text = append(text, strings.TrimSpace(b.lines[i]))
		}
		// A here-document (python3 - <<'PY' … PY) is part of its command, to its end line.
		if m := readmeHeredocRE.FindStringSubmatch(b.lines[i]); m != nil {
			for i+1 < len(b.lines) {
				i++
				text = append(text, b.lines[i])
				if strings.TrimSpace(b.lines[i]) == m[1] {
					break
				}
			}
		}
		c.text = strings.Join(text, "\n")
		if i+1 < len(b.lines) && strings.HasPrefix(strings.TrimSpace(b.lines[i+1]), "# {") {
			var answer []string
			for i+1 < len(b.lines) && strings.HasPrefix(strings.TrimSpace(b.lines[i+1]), "#") {
				i++
				answer = append(answer, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(b.lines[i]), "#")))
			}
			c.answer = strings.Join(answer, "")
		}
		cmds = append(cmds, c)
	}
	return cmds, starts
}

var (
	readmeHeredocRE = regexp.MustCompile(`<<-?'?([A-Z]+)'?\s*$`)
	readmeTimeRE    = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"`)
	readmeCursorRE  = regexp.MustCompile(`"next_cursor":"[A-Za-z0-9_-]+"`)
	readmeMarkerRE  = regexp.MustCompile(`^@@readme (\d+) (\d+)$`)
)

// readmeAnswerMatches reports whether out is the answer a README comment shows.
func readmeAnswerMatches(comment, out string) bool {
	norm := func(s string) string {
		s = readmeTimeRE.ReplaceAllString(s, `"<time>"`)
		return readmeCursorRE.ReplaceAllString(s, `"next_cursor":"<cursor>"`)
	}
	pattern := strings.ReplaceAll(regexp.QuoteMeta(norm(comment)), "…", ".*")
	return regexp.MustCompile(`^` + pattern + `$`).MatchString(norm(out))
}

// readmeAnswer is the JSON answer of a read or a POST, the fields the checks look at.
type readmeAnswer struct {
	Status       any
	ID           string `json:"id"`
	Duplicate    *bool
	Data         []struct{ ID, Source, Type string }
	NextCursor   *string `json:"next_cursor"`
	Payload      json.RawMessage
	Title        string
	Total        *int64 `json:"total_messages"`
	SendersCount int64  `json:"senders_count"`
	TopSenders   []struct {
		Sender string
		Count  int64
	} `json:"top_senders"`
	Sources []struct {
		Source string
		Count  int64
	}
}

func (a readmeAnswer) ids() []string {
	ids := []string{}
	for _, m := range a.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestReadmeCurlExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "python3"} {
		needTool(t, tool, fmt.Sprintf("install %s (Debian: apt-get install -y %[1]s)", tool))
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	for _, want := range []string{"SECRET=" + readmeSecret, "TOKEN=" + readmeToken,
		"Send it again and the answer is `\"duplicate\":true`"} {
		if !strings.Contains(readme, want) {
			t.Fatalf("README.md no longer contains %q, which this test relies on; update it", want)
		}
	}
	blocks := readmeServerBlocks(readme)
	body := regexp.MustCompile(`(?m)^BODY='([^']*)'$`).FindStringSubmatch(readme)
	if len(blocks) == 0 || body == nil {
		t.Fatalf("README.md has no sh block that calls http://%s, or no BODY='…' line", readmeAddr)
	}

	work := t.TempDir()
	// The sources of "Receiving from providers": its YAML, and the secrets its export line
	// sets, as a reader who follows it starts the server.
	var sourcesYAML string
	for _, b := range readmeFenced(readme, "yaml") {
		if len(b.lines) > 0 && strings.HasPrefix(b.lines[0], "sources:") {
			sourcesYAML = strings.Join(b.lines, "\n") + "\n"
			break
		}
	}
	var exports []string
	for _, m := range regexp.MustCompile(`(?m)^export ((?:[A-Z_]+=\S+ ?)+)$`).FindAllStringSubmatch(readme, -1) {
		if strings.Contains(sourcesYAML, "${"+strings.SplitN(m[1], "=", 2)[0]+"}") {
			exports = append(exports, strings.Fields(m[1])...)
		}
	}
	if sourcesYAML == "" || exports == nil {
		t.Fatal("README.md has no ```yaml block starting `sources:`, or no `export VAR=value …` line for its secrets")
	}
	// "Every row, tried": one more source per provider row, as the README describes them.
	tried := readmeTriedSources(t, readme, blocks, sourcesYAML)
	sourcesPath := filepath.Join(work, "sources.yaml")
	if err := os.WriteFile(sourcesPath, []byte(sourcesYAML+tried.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(exports, "WEBHOOK_SECRET="+readmeSecret, "API_TOKEN="+readmeToken, "SOURCES_FILE="+sourcesPath)
	env = append(env, tried.env...)
	addr, cmd, serverLog := start(t, env...)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The plan: blocks in README order, the /webhook one twice.
	type run struct{ block, again int }
	var plan []run
	for i, b := range blocks {
		plan = append(plan, run{i, 0})
		if text := strings.Join(b.lines, "\n"); strings.Contains(text, "curl") && strings.Contains(text, "/webhook") {
			plan = append(plan, run{i, 1})
		}
	}

	// The script, and the commands each marker in its output stands for.
	var script strings.Builder
	script.WriteString(`# Written by TestReadmeCurlExamples from README.md; see readme_test.go.
`)
	type ran struct {
		readmeCommand
		again int
	}
	var ranCmds []ran
	built := false
	for _, r := range plan {
		b := blocks[r.block]
		cmds, starts := b.commands()
		fmt.Fprintf(&script, "\n# README.md line %d\n", b.line)
		n := 0
		for i, line := range b.lines {
			if starts[i] {
				fmt.Fprintf(&script, "printf '\\n@@readme %d %d\\n'\n", len(ranCmds), b.line+i)
				ranCmds = append(ranCmds, ran{cmds[n], r.again})
				n++
			}
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(trimmed, "go build -o bin/ "):
				if !built {
					pkgs := strings.Fields(strings.TrimSpace(strings.SplitN(strings.TrimPrefix(trimmed, "go build -o bin/ "), "#", 2)[0]))
					build := exec.CommandContext(ctx, "go", append([]string{"build", "-o", filepath.Join(work, "bin") + "/"}, pkgs...)...)
					build.Dir = filepath.Join("..", "..")
					if out, err := build.CombinedOutput(); err != nil {
						t.Fatalf("README line %d, %q, run from the repository root into a temporary bin/: %v\n%s", b.line+i, trimmed, err, out)
					}
					built = true
				}
				line = fmt.Sprintf(": README.md line %d, go build, was run by the test", b.line+i)
			}
			script.WriteString(strings.ReplaceAll(line, readmeAddr, addr) + "\n")
		}
	}
	if !built && strings.Contains(script.String(), "bin/hookctl") {
		t.Fatal("the README calls bin/hookctl but no `go build -o bin/ …` line builds it")
	}
	scriptPath := filepath.Join(work, "readme.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	sh := exec.CommandContext(ctx, "bash", "-euo", "pipefail", scriptPath)
	sh.Dir = work
	// Only what the README's reader has: no WEBHOOK_SECRET, API_TOKEN or HOOKVAULT_URL from
	// this process, no proxy.
	sh.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	if err := sh.Run(); err != nil {
		var numbered strings.Builder
		for i, l := range strings.Split(script.String(), "\n") {
			fmt.Fprintf(&numbered, "%4d  %s\n", i+1, l)
		}
		t.Fatalf("bash -euo pipefail readme.sh: %v\nstderr:\n%s\nstdout:\n%s\nscript:\n%s", err, stderr.String(), stdout.String(), numbered.String())
	}

	// Each command's output, by the marker printed before it.
	outputs := make([]string, len(ranCmds))
	cur := -1
	var seg []string
	flush := func() {
		if cur >= 0 {
			outputs[cur] = strings.TrimSpace(strings.Join(seg, "\n"))
		}
		seg = nil
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if m := readmeMarkerRE.FindStringSubmatch(line); m != nil {
			flush()
			cur, _ = strconv.Atoi(m[1])
			continue
		}
		seg = append(seg, line)
	}
	flush()

	mac := hmac.New(sha256.New, []byte(readmeSecret))
	mac.Write([]byte(body[1]))
	signature := hex.EncodeToString(mac.Sum(nil))
	sinceRE := regexp.MustCompile(`since=([0-9TZ:.-]+)`)

	// The hand-written checks, by a substring of the README command.
	type check struct {
		match string
		check func(c ran, out string, a readmeAnswer) error
	}
	answer := func(id string, dup bool) func(ran, string, readmeAnswer) error {
		return func(_ ran, _ string, a readmeAnswer) error {
			if a.Status != "ok" || a.ID != id || a.Duplicate == nil || *a.Duplicate != dup {
				return fmt.Errorf(`want {"status":"ok","id":%q,"duplicate":%t}`, id, dup)
			}
			return nil
		}
	}
	ids := func(want ...string) func(ran, string, readmeAnswer) error {
		return func(_ ran, _ string, a readmeAnswer) error {
			if !slices.Equal(a.ids(), want) {
				return fmt.Errorf("want the ids %q, got %q", want, a.ids())
			}
			return nil
		}
	}
	checks := []check{
		{"curl -s http://127.0.0.1:8000/webhook", func(c ran, out string, a readmeAnswer) error {
			return answer("1", c.again == 1)(c, out, a) // the second run is "Send it again"
		}},
		{`hookctl sign --data "$BODY"`, func(_ ran, out string, _ readmeAnswer) error {
			if out != signature {
				return fmt.Errorf("want the hex HMAC-SHA256 of $BODY, %s", signature)
			}
			return nil
		}},
		{`python3 -c 'import hmac, hashlib, sys;`, func(_ ran, out string, _ readmeAnswer) error {
			if out != signature {
				return fmt.Errorf("want the hex HMAC-SHA256 of $BODY with $SECRET, %s, as hookvault computes it", signature)
			}
			return nil
		}},
		{"hookctl send --id 2 ", func(c ran, out string, a readmeAnswer) error { return answer("2", false)(c, out, a) }},
		{"import hashlib, hmac, json, urllib.request", func(c ran, out string, a readmeAnswer) error {
			return answer("py-1", false)(c, out, a)
		}},
		{"hookctl send --file -", func(c ran, out string, a readmeAnswer) error { return answer("3", false)(c, out, a) }},
		{"/messages?limit=2'", func(c ran, out string, a readmeAnswer) error {
			if strings.HasPrefix(c.text, "NEXT=") { // the same request, for its next_cursor
				return nil
			}
			if err := ids("1", "py-1")(c, out, a); err != nil {
				return err
			}
			if a.NextCursor == nil {
				return errors.New("want a next_cursor: more messages are stored")
			}
			return nil
		}},
		{"cursor=$NEXT", func(c ran, out string, a readmeAnswer) error {
			if err := ids("2", "3")(c, out, a); err != nil {
				return err
			}
			if a.NextCursor == nil {
				return errors.New("want a next_cursor: the GitHub delivery follows")
			}
			return nil
		}},
		{"sender=alice&q=hel", func(c ran, out string, a readmeAnswer) error {
			m := sinceRE.FindStringSubmatch(c.text)
			if m == nil {
				return errors.New("the command has no since= any more; update TestReadmeCurlExamples")
			}
			since, err := time.Parse(time.RFC3339, m[1])
			if err != nil {
				return err
			}
			if time.Now().Before(since) { // a clock before the README's date: nothing arrived since
				return ids()(c, out, a)
			}
			return ids("1")(c, out, a) // "hi" (id 2) and "from a file" (id 3) do not contain "hel"
		}},
		{"8000/messages/1", func(_ ran, _ string, a readmeAnswer) error {
			if a.ID != "1" || string(a.Payload) != body[1] {
				return fmt.Errorf("want id 1 with the payload %s byte for byte", body[1])
			}
			return nil
		}},
		{"8000/stats", func(_ ran, _ string, a readmeAnswer) error {
			// alice's four messages on POST /webhook, and one per provider send line before it.
			counts := map[string]int64{"default": 4}
			for name, n := range tried.stored {
				counts[name] += n
			}
			var want []string
			total := int64(0)
			for _, name := range slices.Sorted(maps.Keys(counts)) {
				want = append(want, fmt.Sprintf("{%s %d}", name, counts[name]))
				total += counts[name]
			}
			senders := fmt.Sprintf("[{alice 4} {hookctl %d}]", tried.hookctl)
			if tried.hookctl == 0 {
				senders = "[{alice 4}]"
			}
			got := fmt.Sprint(a.Sources)
			if a.Total == nil || *a.Total != total || a.SendersCount != int64(len(a.TopSenders)) ||
				fmt.Sprint(a.TopSenders) != senders || got != "["+strings.Join(want, " ")+"]" {
				return fmt.Errorf("want total_messages %d, top_senders %s, sources %s; got sources %s", total, senders, want, got)
			}
			return nil
		}},
		// Every provider send line but a handshake (its --data) stores a new message; the
		// handshake's answer is the comment under it.
		{"hookctl send --source ", func(c ran, _ string, a readmeAnswer) error {
			if strings.Contains(c.text, " --data ") {
				return nil
			}
			if a.Status != "ok" || a.ID == "" || a.Duplicate == nil || *a.Duplicate {
				return errors.New(`want {"status":"ok","id":…,"duplicate":false}`)
			}
			return nil
		}},
		{"--source github --provider github", func(_ ran, _ string, a readmeAnswer) error {
			if a.Status != "ok" || a.ID == "" || a.Duplicate == nil || *a.Duplicate {
				return errors.New(`want {"status":"ok","id":…,"duplicate":false}`)
			}
			return nil
		}},
		{"messages?source=github'", func(_ ran, _ string, a readmeAnswer) error {
			if len(a.Data) != 1 || a.Data[0].Source != "github" || a.Data[0].Type != "ping" {
				return fmt.Errorf("want the one GitHub ping, got %+v", a.Data)
			}
			return nil
		}},
	}

	used := make([]int, len(checks))
	for i, c := range ranCmds {
		out := outputs[i]
		if out != "" {
			t.Logf("README.md:%d (run %d) %s\n    → %s", c.line, c.again+1, strings.ReplaceAll(c.text, "\\\n", ""), out)
		}
		var a readmeAnswer
		isJSON := json.Unmarshal([]byte(out), &a) == nil
		isCurl := strings.HasPrefix(c.text, "curl ")
		if isCurl && (!isJSON || a.Title != "") {
			t.Errorf("README.md:%d: %s\nanswered %s; want a JSON answer that is not a problem", c.line, c.text, out)
		}
		for k, ch := range checks {
			if !strings.Contains(c.text, ch.match) {
				continue
			}
			used[k]++
			if err := ch.check(c, out, a); err != nil {
				t.Errorf("README.md:%d: %s\nprinted %s\n%v", c.line, c.text, out, err)
			}
		}
		if c.answer == "" || c.again > 0 {
			continue
		}
		if !readmeAnswerMatches(c.answer, out) {
			t.Errorf("README.md:%d: %s\nprints: %s\nREADME: %s", c.line, c.text, out, c.answer)
		}
	}
	for k, ch := range checks {
		if used[k] == 0 {
			t.Errorf("no README command contains %q any more; update TestReadmeCurlExamples", ch.match)
		}
	}
	if t.Failed() {
		_ = cmd.Process.Kill()
		t.Logf("server log:\n%s", serverLog())
	}
}

// ---------------------------------------------------------------------------------------
// "Receiving from providers": every row of its table, tried.

// readmeTried is what the README's "Every row, tried" asks of the server: the sources to add
// to the YAML above it and the environment they read, and how many messages the send lines
// store per source.
type readmeTried struct {
	yaml    string
	env     []string
	stored  map[string]int64 // by source: send lines without --data, each a fresh sample
	hookctl int64            // of them, the ones of the hookvault preset, whose sender is hookctl
}

var (
	readmeSendRE      = regexp.MustCompile(`hookctl send (?:.* )?--source (\S+) --provider (\S+)(.*)$`)
	readmeSecretRE    = regexp.MustCompile(`--secret (\S+)`)
	readmeNameRE      = regexp.MustCompile(`(?m)^\s*- name: (\S+)`)
	readmeYAMLSpanRE  = regexp.MustCompile("`([a-z_]+: [^`]+)`")
	readmeCodeSpanRE  = regexp.MustCompile("`([^`]+)`")
	readmeEnvRefRE    = regexp.MustCompile(`\$\{([A-Z_]+)\}`)
	readmeTableHeader = "| provider | its secret, and where to find it | URL to give it | YAML besides"
)

// readmeProviderRows returns, by every name in its first column, the YAML lines of each row
// of the providers table: the `key: value` code spans of its fourth column.
func readmeProviderRows(t *testing.T, readme string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	in := false
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, readmeTableHeader):
			in = true
		case in && !strings.HasPrefix(line, "|"):
			return rows
		case in && !strings.HasPrefix(line, "| ---"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 5 {
				t.Fatalf("README.md providers table: %d cells, want 5: %s", len(cells), line)
			}
			var yaml []string
			for _, m := range readmeYAMLSpanRE.FindAllStringSubmatch(cells[3], -1) {
				yaml = append(yaml, m[1])
			}
			for _, m := range readmeCodeSpanRE.FindAllStringSubmatch(cells[0], -1) {
				rows[m[1]] = yaml
			}
		}
	}
	if !in {
		t.Fatalf("README.md has no providers table (a line starting %q)", readmeTableHeader)
	}
	return rows
}

// readmeTriedSources builds, from the README, the sources its "Every row, tried" expects
// beside the YAML above it: for each `hookctl send --source NAME --provider P` line whose NAME
// that YAML does not declare, a source NAME of provider P with the line's --secret (else
// ${WEBHOOK_SECRET}) and the YAML lines of P's row; for discord, no secrets, and its
// public_key's variable set to the public key of the seed its line signs with, which the
// README must give. Every provider hookvault knows must have a row and a send line.
func readmeTriedSources(t *testing.T, readme string, blocks []readmeBlock, declaredYAML string) readmeTried {
	t.Helper()
	rows := readmeProviderRows(t, readme)
	declared := map[string]bool{}
	for _, m := range readmeNameRE.FindAllStringSubmatch(declaredYAML, -1) {
		declared[m[1]] = true
	}
	tried := readmeTried{stored: map[string]int64{}}
	var yaml strings.Builder
	sent := map[string]bool{}
	for _, b := range blocks {
		cmds, _ := b.commands()
		for _, c := range cmds {
			m := readmeSendRE.FindStringSubmatch(c.text)
			if m == nil {
				continue
			}
			name, prov, rest := m[1], m[2], m[3]
			sent[prov] = true
			if !strings.Contains(rest, "--data") {
				tried.stored[name]++
				if prov == "hookvault" && !strings.Contains(rest, "--sender") {
					tried.hookctl++
				}
			}
			if declared[name] {
				continue
			}
			declared[name] = true
			row, ok := rows[prov]
			if !ok {
				t.Errorf("README.md:%d: provider %s has no row in the providers table", c.line, prov)
				continue
			}
			secret := "${WEBHOOK_SECRET}"
			if s := readmeSecretRE.FindStringSubmatch(rest); s != nil {
				secret = s[1]
			}
			fmt.Fprintf(&yaml, "  - name: %s\n    provider: %s\n", name, prov)
			if prov == "discord" {
				seed, err := hex.DecodeString(secret)
				if err != nil || len(seed) != ed25519.SeedSize {
					t.Fatalf("README.md:%d: discord's --secret is not a 32-byte seed in hex", c.line)
				}
				pub := hex.EncodeToString(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
				for _, line := range row {
					for _, v := range readmeEnvRefRE.FindAllStringSubmatch(line, -1) {
						if !strings.Contains(readme, v[1]+"="+pub) {
							t.Errorf("README.md does not give %s=%s, the public key of the seed its discord line signs with", v[1], pub)
						}
						tried.env = append(tried.env, v[1]+"="+pub)
					}
				}
			} else {
				fmt.Fprintf(&yaml, "    secrets: [%s]\n", strconv.Quote(secret))
			}
			for _, line := range row {
				fmt.Fprintf(&yaml, "    %s\n", line)
			}
		}
	}
	for _, p := range provider.Names() {
		if _, ok := rows[p]; !ok {
			t.Errorf("README.md's providers table has no row for provider %s", p)
		}
		if !sent[p] {
			t.Errorf("README.md has no `hookctl send --source NAME --provider %s` line against http://%s", p, readmeAddr)
		}
	}
	tried.yaml = yaml.String()
	return tried
}
