package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// field is one key/value pair of an ordered JSON object.
type field struct {
	k string
	v any
}

// object is a JSON object that keeps its key order, so answers read like the
// real ones (status first, meta last).
type object []field

// MarshalJSON encodes the fields in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalRaw(f.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalRaw(f.v)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshalRaw encodes v without HTML escaping and without a trailing newline.
func marshalRaw(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// phpJSON encodes v the way PHP's json_encode does by default: forward
// slashes escaped as `\/` and every non-ASCII character as a \uXXXX escape
// (surrogate pairs above U+FFFF). Both can only occur inside JSON strings, so
// rewriting the encoded bytes is safe.
func phpJSON(v any) ([]byte, error) {
	raw, err := marshalRaw(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+len(raw)/8)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '/':
			out = append(out, '\\', '/')
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			i += size
			if r > 0xFFFF {
				r -= 0x10000
				out = appendU(out, 0xD800+(r>>10))
				out = appendU(out, 0xDC00+(r&0x3FF))
			} else {
				out = appendU(out, r)
			}
		}
	}
	return out, nil
}

func appendU(b []byte, r rune) []byte {
	s := strconv.FormatInt(int64(r), 16)
	b = append(b, '\\', 'u')
	for range 4 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// writePHP writes v as a PHP-encoded JSON answer with the given status.
func writePHP(w http.ResponseWriter, status int, v any) {
	body, err := phpJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"status":"error","message":"sandbox: cannot encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
