package api

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ParseFields turns gh-style -F key=value pairs into body fields:
// true/false/null and numbers become JSON values, "@path" reads a file and
// "@-" reads stdin; -f key=value (raw) always stays a string. Later pairs
// win. Its errors are usage errors, worded for the command line.
func ParseFields(typed, raw []string, stdin io.Reader) (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range typed {
		k, v, err := splitField(kv, "-F")
		if err != nil {
			return nil, err
		}
		val, err := FieldValue(v, stdin)
		if err != nil {
			return nil, fmt.Errorf("-F %s: %w", k, err)
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
		return "", "", fmt.Errorf("%s %q: want key=value", flag, kv)
	}
	return strings.TrimSpace(k), v, nil
}

// FieldValue is one -F value typed: true, false, null, a number, @file or
// @- (stdin, trailing newlines trimmed), a JSON array or object when it
// parses as one, else the text as it is.
func FieldValue(v string, stdin io.Reader) (any, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if strings.HasPrefix(v, "@") {
		return readField(v)(stdin)
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

// readField reads an @path (or @-) value.
func readField(v string) func(io.Reader) (any, error) {
	return func(stdin io.Reader) (any, error) {
		var (
			b    []byte
			err  error
			name = v[1:]
		)
		if v == "@-" {
			name = "stdin"
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(v[1:])
		}
		if err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err // its text repeats the path the message names
			}
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}
