// Package sources loads the sources file (SOURCES_FILE): the senders hookvault receives from,
// each with its provider preset, secrets and id and type rules. Every field is checked when
// the file is loaded, so a typo stops start-up (or is refused by a reload) with a message
// that names the source and the field, instead of turning into 401s at the first delivery.
package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookvault/hookvault/internal/hookvault"
	"github.com/hookvault/hookvault/internal/provider"
)

// Default is the name of the source of POST /webhook, whose secrets come from WEBHOOK_SECRET.
const Default = "default"

// maxFileBytes bounds the sources file: it is read whole at start and at every SIGHUP.
const maxFileBytes = 1 << 20

// namePattern is what a source name may be: it is a path segment and a metric label value.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// file is the sources file as written.
type file struct {
	Sources      []spec            `yaml:"sources"`
	Destinations []destinationSpec `yaml:"destinations"`
}

type spec struct {
	Name         string   `yaml:"name"`
	Provider     string   `yaml:"provider"`
	Secrets      []string `yaml:"secrets"`
	PublicKey    string   `yaml:"public_key"`
	Tolerance    string   `yaml:"tolerance"`
	URL          string   `yaml:"url"`
	Header       string   `yaml:"header"`
	Algorithm    string   `yaml:"algorithm"`
	Encoding     string   `yaml:"encoding"`
	Prefix       string   `yaml:"prefix"`
	ID           string   `yaml:"id"`
	Type         string   `yaml:"type"`
	MaxBodyBytes int64    `yaml:"max_body_bytes"`
}

// Source is one configured sender, ready to verify deliveries.
type Source struct {
	*provider.Source
	Name     string
	Provider string
	// MaxBodyBytes is the source's body limit; 0 means the server's MAX_BODY_BYTES.
	MaxBodyBytes int64
}

// Set is the sources of one load of the file, looked up by name. A Set is never changed
// after Load: a reload builds a new one and swaps it in whole.
type Set struct {
	byName       map[string]*Source
	names        []string // in the file's order
	destinations []*Destination
}

// Get returns the source with the given name.
func (s *Set) Get(name string) (*Source, bool) {
	if s == nil {
		return nil, false
	}
	src, ok := s.byName[name]
	return src, ok
}

// All returns the sources in the file's order.
func (s *Set) All() []*Source {
	if s == nil {
		return nil
	}
	out := make([]*Source, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out
}

// Names returns the source names in the file's order.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.names)
}

// Load reads and checks the sources file at path. getenv supplies ${VAR} values.
func Load(path string, getenv func(string) string, opts provider.Options) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileBytes)
	}
	return Parse(data, getenv, opts)
}

// Parse checks a sources file's contents; see Load.
func Parse(data []byte, getenv func(string) string, opts provider.Options) (*Set, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty; it needs a `sources:` list")
		}
		return nil, fmt.Errorf("not a valid sources file: %w", yamlError(err))
	}
	// A misspelt field is an error, not a silently ignored setting. The YAML library's
	// KnownFields would say so in terms of Go types ("field colour not found in type
	// sources.spec"), so the fields are checked here, where the source is known.
	unknown := unknownFields(&doc)
	var f file
	if err := doc.Decode(&f); err != nil {
		return nil, errors.Join(unknown, fmt.Errorf("not a valid sources file: %w", yamlError(err)))
	}
	if unknown != nil {
		return nil, unknown
	}
	if len(f.Sources) == 0 && len(f.Destinations) == 0 {
		return nil, errors.New("the file has no sources; list them under `sources:`")
	}
	set := &Set{byName: map[string]*Source{}}
	var errs []error
	for i, sp := range f.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		if sp.Name != "" {
			where = fmt.Sprintf("source %q", sp.Name)
		}
		src, err := build(sp, getenv, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if _, dup := set.byName[src.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: name: used twice", where))
			continue
		}
		set.byName[src.Name] = src
		set.names = append(set.names, src.Name)
	}
	dests, err := buildDestinations(f.Destinations, set.names, getenv)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	set.destinations = dests
	return set, nil
}

func build(sp spec, getenv func(string) string, opts provider.Options) (*Source, error) {
	switch {
	case sp.Name == "":
		return nil, errors.New("name: missing")
	case sp.Name == Default:
		return nil, fmt.Errorf("name: %q is the source of POST /webhook, configured by WEBHOOK_SECRET; pick another name", Default)
	case !namePattern.MatchString(sp.Name):
		return nil, fmt.Errorf("name: %q must be lower-case letters, digits, - and _ (at most 64, starting with a letter or digit)", sp.Name)
	case sp.Provider == "":
		return nil, errors.New("provider: missing")
	case sp.MaxBodyBytes < 0:
		return nil, fmt.Errorf("max_body_bytes: %d is negative", sp.MaxBodyBytes)
	}
	var errs []error
	expand := func(field, v string) string {
		out, err := expandVars(v, getenv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return out
	}
	c := provider.Config{
		Name: sp.Name, Provider: sp.Provider,
		PublicKey: expand("public_key", sp.PublicKey), URL: expand("url", sp.URL),
		Header: sp.Header, Algorithm: sp.Algorithm, Encoding: sp.Encoding, Prefix: expand("prefix", sp.Prefix),
		ID: sp.ID, Type: sp.Type,
	}
	for i, s := range sp.Secrets {
		c.Secrets = append(c.Secrets, expand(fmt.Sprintf("secrets[%d]", i), s))
	}
	if sp.Tolerance != "" {
		d, err := time.ParseDuration(sp.Tolerance)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("tolerance: %q is not a positive duration such as 5m", sp.Tolerance))
		}
		c.Tolerance = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	src, err := provider.New(c, opts)
	if err != nil {
		return nil, err
	}
	return &Source{Source: src, Name: sp.Name, Provider: sp.Provider, MaxBodyBytes: sp.MaxBodyBytes}, nil
}

// Fields are the names each level of the file may have, read from the yaml tags so that
// they cannot drift from what is decoded.
var (
	fileFields        = yamlFields(reflect.TypeFor[file]())
	sourceFields      = yamlFields(reflect.TypeFor[spec]())
	destinationFields = yamlFields(reflect.TypeFor[destinationSpec]())
)

func yamlFields(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" {
			names[name] = true
		}
	}
	return names
}

// unknownFields names every field of the file that hookvault does not know, with the
// source or destination it is in and its line: `source "github": unknown field "colour"
// (line 5)`. Anything that is not the shape of a sources file is left to the decoder.
func unknownFields(doc *yaml.Node) error {
	var errs []error
	root := resolve(doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolve(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for k, v := range pairs(root) {
		if !fileFields[k.Value] {
			errs = append(errs, fmt.Errorf("unknown field %q (line %d); the file has sources: and destinations:", clip(k.Value), k.Line))
			continue
		}
		list := resolve(v)
		if list.Kind != yaml.SequenceNode {
			continue
		}
		kind, known := "source", sourceFields
		if k.Value == "destinations" {
			kind, known = "destination", destinationFields
		}
		for i, item := range list.Content {
			item = resolve(item)
			if item.Kind != yaml.MappingNode {
				continue
			}
			where := fmt.Sprintf("%s[%d]", k.Value, i)
			for nk, nv := range pairs(item) {
				if nk.Value == "name" && nv.Kind == yaml.ScalarNode && nv.Value != "" {
					where = fmt.Sprintf("%s %q", kind, clip(nv.Value))
				}
			}
			for _, name := range unknownKeys(item, known) {
				errs = append(errs, fmt.Errorf("%s: unknown field %q (line %d)", where, clip(name.Value), name.Line))
			}
		}
	}
	return errors.Join(errs...)
}

// unknownKeys are the keys of mapping m that are not known, following YAML merge keys
// (`<<: *common`), whose fields count as m's own.
func unknownKeys(m *yaml.Node, known map[string]bool) []*yaml.Node {
	var out []*yaml.Node
	for k, v := range pairs(m) {
		if k.Tag != "!!merge" {
			if !known[k.Value] {
				out = append(out, k)
			}
			continue
		}
		merged := []*yaml.Node{v}
		if v = resolve(v); v.Kind == yaml.SequenceNode {
			merged = v.Content
		}
		for _, mm := range merged {
			if mm = resolve(mm); mm.Kind == yaml.MappingNode {
				out = append(out, unknownKeys(mm, known)...)
			}
		}
	}
	return out
}

// pairs yields a mapping node's keys and values.
func pairs(m *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !yield(m.Content[i], m.Content[i+1]) {
				return
			}
		}
	}
}

// resolve follows an alias (`*name`) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// clip shortens a name quoted in a message.
func clip(s string) string {
	if len(s) > 64 {
		return hookvault.TruncateUTF8(s, 64) + "…"
	}
	return s
}

// varPattern is a ${NAME} reference; $$ writes a literal $.
var varPattern = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?`)

// expandVars replaces ${NAME} with the variable's value. A variable that is not set (or is
// empty) is an error: an empty secret would silently disable a source, or worse. Values
// are expanded after YAML parsing, so a secret may hold any character.
func expandVars(v string, getenv func(string) string) (string, error) {
	var missing []string
	var malformed string
	out := varPattern.ReplaceAllStringFunc(v, func(ref string) string {
		if ref == "$$" {
			return "$"
		}
		m := varPattern.FindStringSubmatch(ref)
		if m[1] == "" {
			malformed = ref
			return ""
		}
		val := getenv(m[1])
		if val == "" {
			missing = append(missing, m[1])
		}
		return val
	})
	switch {
	case malformed != "":
		return "", fmt.Errorf("%q is not a ${NAME} reference (write $$ for a literal $)", malformed)
	case len(missing) > 0:
		return "", fmt.Errorf("${%s} is not set in the environment", strings.Join(missing, "}, ${"))
	}
	return out, nil
}

// yamlError keeps the YAML library's message, which names the line, but not the value it
// quotes: a misplaced secret must not reach the log.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = quoted.ReplaceAllString(m, "…")
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(quoted.ReplaceAllString(err.Error(), "…"))
}

var quoted = regexp.MustCompile("`[^`]*`")

// NewDefault is the source of POST /webhook: the hookvault preset with the WEBHOOK_SECRET
// secrets.
func NewDefault(secrets [][]byte, opts provider.Options) (*Source, error) {
	c := provider.Config{Name: Default, Provider: "hookvault"}
	for _, s := range secrets {
		c.Secrets = append(c.Secrets, string(s))
	}
	src, err := provider.New(c, opts)
	if err != nil {
		return nil, err
	}
	return &Source{Source: src, Name: Default, Provider: "hookvault"}, nil
}

// With returns the sources of s after def (the default source, nil when WEBHOOK_SECRET is
// not set). s may be nil: no sources file.
func With(def *Source, s *Set) *Set {
	out := &Set{byName: map[string]*Source{}, destinations: s.Destinations()}
	if def != nil {
		out.byName[def.Name] = def
		out.names = append(out.names, def.Name)
	}
	for _, src := range s.All() {
		out.byName[src.Name] = src
		out.names = append(out.names, src.Name)
	}
	return out
}
