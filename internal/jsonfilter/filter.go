// Package jsonfilter is mlab's --jq and --template, as gh has them: a
// filter of the JSON a --json command prints, applied to each JSON value
// (one job's result, one journal entry, one model) on its own. Strings come
// out raw (jq -r), other values as compact JSON, one per line; a
// template's text as it renders, with a newline added when it does not end
// in one. Queries run on github.com/itchyny/gojq, the jq gh uses.
package jsonfilter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/itchyny/gojq"
	"github.com/mlabcli/mlab/internal/config"
	"github.com/mlabcli/mlab/internal/output"
)

// Filter is a compiled --jq query or --template.
type Filter struct {
	src  string // as given, for messages
	code *gojq.Code
	tmpl *template.Template
}

// Error is a --jq or --template that failed on the data it was given (a
// compile error is returned by CompileJQ or CompileTemplate instead).
type Error struct {
	Flag string // "--jq" or "--template"
	Err  error
}

func (e *Error) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// secretEnv are the environment variables a filter's $ENV never shows.
var secretEnv = []string{config.EnvAPIKey, config.EnvNgrokToken}

// filterEnviron is the environment a --jq query sees ($ENV, env): the
// process's, without the secrets mlab reads.
func filterEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(secretEnv, name) {
			env = append(env, kv)
		}
	}
	return env
}

// CompileJQ compiles a --jq query; its error is what gojq says, with the
// column where the parser stopped.
func CompileJQ(src string) (*Filter, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty query (try --jq .)")
	}
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, jqParseError(src, err)
	}
	code, err := gojq.Compile(q, gojq.WithEnvironLoader(filterEnviron))
	if err != nil {
		return nil, err
	}
	return &Filter{src: src, code: code}, nil
}

// jqParseError says where in the query the parser stopped:
// `unexpected token "]" at column 4 of ".[]]"`.
func jqParseError(src string, err error) error {
	var pe *gojq.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%w at column %d of %q", err, pe.Offset, src)
	}
	return err
}

// templateFuncs are the helpers of --template, after gh's.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		// json: the value as compact JSON.
		"json": func(v any) (string, error) {
			b, err := MarshalCompact(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		// join SEP LIST
		"join": func(sep string, list any) (string, error) {
			items, err := toList(list)
			if err != nil {
				return "", fmt.Errorf("join: %w", err)
			}
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = textOf(it)
			}
			return strings.Join(parts, sep), nil
		},
		// pluck FIELD LIST: the field of each object of the list.
		"pluck": func(field string, list any) ([]any, error) {
			items, err := toList(list)
			if err != nil {
				return nil, fmt.Errorf("pluck: %w", err)
			}
			out := make([]any, 0, len(items))
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, m[field])
				}
			}
			return out, nil
		},
		// truncate N TEXT: at most N columns, "…" marking a cut.
		"truncate": func(n int, v any) string {
			return ansi.Truncate(textOf(v), max(n, 0), "…")
		},
		// timefmt LAYOUT TIME: an RFC 3339 time in a Go layout.
		"timefmt": func(layout string, v any) (string, error) {
			t, err := time.Parse(time.RFC3339Nano, textOf(v))
			if err != nil {
				return "", fmt.Errorf("timefmt: %w", err)
			}
			return t.Format(layout), nil
		},
		// timeago TIME: "3m ago".
		"timeago": func(v any) (string, error) {
			t, err := time.Parse(time.RFC3339Nano, textOf(v))
			if err != nil {
				return "", fmt.Errorf("timeago: %w", err)
			}
			return output.FormatAgo(time.Since(t)), nil
		},
		"upper": func(v any) string { return strings.ToUpper(textOf(v)) },
		"lower": func(v any) string { return strings.ToLower(textOf(v)) },
		// safe: terminal-safe text (control characters escaped).
		"safe": func(v any) string { return output.Safe(textOf(v)) },
	}
}

// CompileTemplate parses a --template: Go's text/template with gh's
// helpers (json, join, pluck, truncate, timefmt, timeago) and upper, lower
// and safe.
func CompileTemplate(src string) (*Filter, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty template (try --template '{{.id}}')")
	}
	t, err := template.New("--template").Funcs(templateFuncs()).Parse(src)
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	return &Filter{src: src, tmpl: t}, nil
}

// Flag is the flag the filter came from: "--jq" or "--template".
func (jf *Filter) Flag() string {
	if jf.tmpl != nil {
		return "--template"
	}
	return "--jq"
}

// Apply runs the filter on one JSON document and writes what it yields to
// w; tty makes the raw text of untrusted strings terminal-safe. A failure
// of the filter on the document is an [*Error].
func (jf *Filter) Apply(ctx context.Context, w io.Writer, doc []byte, tty bool) error {
	v, err := decodeJSON(doc)
	if err != nil {
		return &Error{Flag: jf.Flag(), Err: fmt.Errorf("not JSON: %w", err)}
	}
	var buf bytes.Buffer
	if jf.tmpl != nil {
		if err := jf.tmpl.Execute(&buf, v); err != nil {
			return &Error{Flag: "--template", Err: errors.New(strings.TrimPrefix(err.Error(), "template: "))}
		}
		if buf.Len() > 0 && !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
			buf.WriteByte('\n')
		}
	} else if err := jf.runJQ(ctx, &buf, v); err != nil {
		return err
	}
	out := buf.Bytes()
	if tty {
		out = []byte(output.SafeLines(string(out)))
	}
	_, err = w.Write(out)
	return err
}

// Text is what the filter yields for one document, as Apply writes it.
func (jf *Filter) Text(doc []byte, tty bool) (string, error) {
	var buf bytes.Buffer
	err := jf.Apply(context.Background(), &buf, doc, tty)
	return buf.String(), err
}

// runJQ writes every value the query yields: strings raw, others as
// compact JSON.
func (jf *Filter) runJQ(ctx context.Context, buf *bytes.Buffer, v any) error {
	iter := jf.code.RunWithContext(ctx, v)
	for {
		r, ok := iter.Next()
		if !ok {
			return nil
		}
		if err, ok := r.(error); ok {
			var he *gojq.HaltError
			if errors.As(err, &he) && he.Value() == nil {
				return nil // halt: stop, no error
			}
			return &Error{Flag: "--jq", Err: err}
		}
		if s, ok := r.(string); ok {
			buf.WriteString(s)
		} else {
			b, _ := gojq.Marshal(r)
			buf.Write(b)
		}
		buf.WriteByte('\n')
	}
}

// decodeJSON decodes one document the way gojq takes it, numbers exact.
func decodeJSON(doc []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// MarshalCompact is JSON without HTML escapes, with a trailing newline.
func MarshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// textOf is a template value as text: strings as they are, nil as "",
// others as JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case fmt.Stringer:
		return x.String()
	}
	b, err := MarshalCompact(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// toList is a template argument that must be a list.
func toList(v any) ([]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("want a list, got %T", v)
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}
