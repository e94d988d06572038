package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mlabcli/mlab/internal/api"
)

// parseFields turns gh-style -F key=value pairs into body fields:
// true/false/null and numbers become JSON values, "@path" reads a file and
// "@-" reads stdin; -f key=value (raw) always stays a string. Later pairs win.
func parseFields(typed, raw []string, stdin io.Reader) (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range typed {
		k, v, err := splitField(kv, "-F")
		if err != nil {
			return nil, err
		}
		val, err := fieldValue(v, stdin)
		if err != nil {
			return nil, flagErrorf("-F %s: %v", k, err)
		}
		out[k] = val
	}
	for _, kv := range raw {
		k, v, err := splitField(kv, "-f")
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func splitField(kv, flag string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return "", "", flagErrorf("%s %q: want key=value", flag, kv)
	}
	return strings.TrimSpace(k), v, nil
}

func fieldValue(v string, stdin io.Reader) (any, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if strings.HasPrefix(v, "@") {
		var (
			b   []byte
			err error
		)
		if v == "@-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(v[1:])
		}
		if err != nil {
			name := v[1:]
			if v == "@-" {
				name = "stdin"
			}
			return nil, fmt.Errorf("read %s: %w", name, unwrapPathError(err))
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil && v != "" && !strings.ContainsAny(v, "xXnN_") {
		return json.Number(v), nil
	}
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		// A JSON array or object (a list of images, a model's sections):
		// sent as JSON when it parses, else as the text it is.
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		var val any
		if dec.Decode(&val) == nil && !dec.More() {
			return val, nil
		}
	}
	return v, nil
}

// parseParams turns -p name=value flags into path parameters.
func parseParams(ps []string) (map[string]string, error) {
	params := map[string]string{}
	for _, p := range ps {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, flagErrorf("-p %q: want name=value", p)
		}
		params[k] = v
	}
	return params, nil
}

// withPathParams applies path parameters to ep; each one it needs must be
// given (exit 2).
func withPathParams(ep api.Endpoint, params map[string]string) (api.Endpoint, error) {
	for _, name := range ep.PathParams() {
		if params[name] == "" {
			return api.Endpoint{}, flagErrorf("%s needs -p %s=...", ep.Name, name)
		}
	}
	return ep.WithPathParams(params), nil
}

// unwrapPathError drops the *os.PathError wrapper (its text repeats the
// path the message already names).
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
