package webhook

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// dedupeKey identifies a delivery for duplicate detection. ModelsLab says
// deliveries may repeat and to dedupe on id/track_id; the status is part of
// the key so a job's "processing" then "success" (or a training's successive
// training_status values) are not duplicates. Bodies with no id are keyed
// by their compact bytes.
func dedupeKey(s Summary, compact []byte) string {
	if s.ID != "" || s.TrackID != "" {
		return s.Kind + "\x00" + s.ID + "\x00" + s.TrackID + "\x00" + s.Status
	}
	sum := sha256.Sum256(compact)
	return "body\x00" + hex.EncodeToString(sum[:])
}

// Deduper remembers the deliveries seen. The zero value is ready; it is not
// safe for concurrent use (the engine's one processing goroutine owns it).
type Deduper struct{ seen map[string]struct{} }

// maxDedupe bounds the memory a very long listen spends on duplicate
// detection; past it the set starts afresh.
const maxDedupe = 100_000

// check records key and reports whether it was seen before.
func (d *Deduper) check(key string) (duplicate bool) {
	if d.seen == nil || len(d.seen) >= maxDedupe {
		d.seen = make(map[string]struct{})
	}
	if _, ok := d.seen[key]; ok {
		return true
	}
	d.seen[key] = struct{}{}
	return false
}

// Line is the JSON contract of one delivery: a line of `mlab listen
// --json` and of a --record file, read back by `mlab replay`.
//
// Body is the payload itself as a JSON value. JSON lines cannot hold a
// pretty-printed body verbatim, so when the body's bytes differ from its
// compact form, RawBody carries them exactly (RawBodyBase64 when they are
// not UTF-8), and replay sends those: bodies are re-sent byte for byte.
type Line struct {
	ReceivedAt    string            `json:"received_at"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Headers       map[string]string `json:"headers"`
	Body          json.RawMessage   `json:"body"`
	RawBody       string            `json:"raw_body,omitempty"`
	RawBodyBase64 string            `json:"raw_body_base64,omitempty"`
	Duplicate     bool              `json:"duplicate"`
	Kind          string            `json:"kind"`
}

// BodyBytes returns the exact bytes that were received.
func (l *Line) BodyBytes() ([]byte, error) {
	switch {
	case l.RawBodyBase64 != "":
		return base64.StdEncoding.DecodeString(l.RawBodyBase64)
	case l.RawBody != "":
		return []byte(l.RawBody), nil
	case len(l.Body) == 0:
		return nil, errors.New("no body")
	}
	return []byte(l.Body), nil
}

// Processed is a delivery with everything the outputs need, computed once.
type Processed struct {
	Delivery  Delivery
	Summary   Summary
	Duplicate bool
	Line      []byte // the JSON line (a [Line]), newline included
}

// Process summarizes d, checks it against dd and renders its JSON line.
func Process(d Delivery, dd *Deduper) (*Processed, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.Body); err != nil {
		return nil, fmt.Errorf("compact body: %w", err) // the listener checked it is JSON
	}
	p := &Processed{Delivery: d, Summary: Summarize(d.Body)}
	p.Duplicate = dd.check(dedupeKey(p.Summary, compact.Bytes()))
	l := Line{
		ReceivedAt: d.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Method:     d.Method,
		Path:       d.Path,
		Headers:    FlattenHeaders(d.Header),
		Body:       compact.Bytes(),
		Duplicate:  p.Duplicate,
		Kind:       p.Summary.Kind,
	}
	if !bytes.Equal(compact.Bytes(), d.Body) {
		if utf8.Valid(d.Body) {
			l.RawBody = string(d.Body)
		} else {
			l.RawBodyBase64 = base64.StdEncoding.EncodeToString(d.Body)
		}
	}
	line, err := marshalLine(l)
	if err != nil {
		return nil, err
	}
	p.Line = line
	return p, nil
}

// marshalLine encodes v as one JSON line, newline included, without
// escaping <, > and & (people and jq read these lines). On an error
// nothing is encoded.
func marshalLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v) // writes to buf only once v is encoded whole
	return buf.Bytes(), err
}

// FlattenHeaders renders headers as one string per name (values joined with
// ", "), which is what people and jq want.
func FlattenHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// Record is one usable line of a record file.
type Record struct {
	LineNo  int // 1-based
	Line    Line
	Body    []byte // the exact bytes received
	Summary Summary
}

// Request is the record sent again to url: a POST (whatever method the
// line names: webhooks are POSTs, and replay says it sends one) with its
// exact body and its headers, minus the credentials among them
// ([CredentialHeader]) unless keepCredentials: a recording may hold
// someone's Authorization or Cookie, and replaying them to another URL
// would hand them over. dropped names the headers left out, sorted.
func (r Record) Request(url string, keepCredentials bool) (req Request, dropped []string) {
	h := http.Header{}
	for k, v := range r.Line.Headers {
		if !keepCredentials && CredentialHeader(k) {
			dropped = append(dropped, http.CanonicalHeaderKey(k))
			continue
		}
		h.Set(k, v)
	}
	slices.Sort(dropped)
	return Request{URL: url, Header: h, Body: r.Body}, dropped
}

// credentialWords mark a header name as a credential when it contains one.
var credentialWords = []string{"auth", "cookie", "token", "secret", "passw", "session", "credential", "apikey", "api-key", "api_key"}

// CredentialHeader reports whether a header of that name may carry a
// credential: Authorization, Proxy-Authorization, Cookie, X-Api-Key, Key,
// X-Auth-Token, any *-Key, and the like. It errs on the side of caution.
func CredentialHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "key" || strings.HasSuffix(n, "-key") || strings.HasSuffix(n, "_key") {
		return true
	}
	return slices.ContainsFunc(credentialWords, func(w string) bool { return strings.Contains(n, w) })
}

// ReadRecords parses a JSON-lines record (a --record file or `mlab listen
// --json` output). Lines that are not deliveries are reported through warn
// and skipped; the error is only a failure to read.
func ReadRecords(r io.Reader, warn func(format string, a ...any)) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Record
	for n := 1; ; n++ {
		raw, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(raw)) > 0 {
			complete := bytes.HasSuffix(raw, []byte("\n"))
			var l Line
			if jerr := json.Unmarshal(raw, &l); jerr != nil {
				if !complete {
					warn("line %d is incomplete (a recording cut short?): skipped", n)
				} else {
					warn("line %d is not a recorded delivery (%v): skipped", n, jerr)
				}
			} else if body, berr := l.BodyBytes(); berr != nil {
				warn("line %d has no body: skipped", n)
			} else {
				out = append(out, Record{LineNo: n, Line: l, Body: body, Summary: Summarize(body)})
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// Filter keeps the records whose payload id is one of ids and whose
// track_id is one of trackIDs; an empty list matches everything.
func Filter(recs []Record, ids, trackIDs []string) []Record {
	var sel []Record
	for _, r := range recs {
		if len(ids) > 0 && !slices.Contains(ids, r.Summary.ID) {
			continue
		}
		if len(trackIDs) > 0 && !slices.Contains(trackIDs, r.Summary.TrackID) {
			continue
		}
		sel = append(sel, r)
	}
	return sel
}
