package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mlabcli/mlab/internal/listener"
)

// The kinds of webhook mlab recognises from a payload's shape
// (docs: modelslab-api.md §5).
const (
	kindGeneration = "generation" // {"status","id","output","track_id",...}
	kindTraining   = "training"   // {"status","training_status","logs","model_id"}
	kindWorkflow   = "workflow"   // {"event":"workflow.*",...}, flat or nested
	kindUnknown    = "unknown"
)

// deliverySummary is what a person wants to see of a payload at a glance.
type deliverySummary struct {
	Kind    string
	Status  string // status, training_status or the workflow execution's status
	ID      string // id, model_id or the workflow execution id
	TrackID string
}

// summarize guesses the kind of a webhook body from its shape and pulls out
// its status, id and track_id. It never fails: an unrecognised body is
// kindUnknown with whatever fields it has.
func summarize(body []byte) deliverySummary {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&m) != nil || m == nil {
		return deliverySummary{Kind: kindUnknown}
	}
	s := deliverySummary{TrackID: textOf(m["track_id"]), Status: textOf(m["status"])}
	if s.TrackID == "" {
		if meta, ok := m["meta"].(map[string]any); ok {
			s.TrackID = textOf(meta["track_id"])
		}
	}
	event := textOf(m["event"])
	exec, _ := m["execution"].(map[string]any)
	_, hasWorkflow := m["workflow"].(map[string]any)
	switch {
	case strings.HasPrefix(event, "workflow."), m["execution_id"] != nil, m["workflow_id"] != nil, exec != nil && hasWorkflow:
		s.Kind = kindWorkflow
		s.ID = textOf(m["execution_id"])
		if exec != nil {
			s.ID = firstNonEmpty(s.ID, textOf(exec["id"]))
			s.Status = firstNonEmpty(s.Status, textOf(exec["status"]))
		}
		if s.Status == "" && event != "" {
			s.Status = strings.TrimPrefix(event, "workflow.")
		}
	case m["training_status"] != nil, m["logs"] != nil && m["model_id"] != nil && m["output"] == nil:
		s.Kind = kindTraining
		s.ID = firstNonEmpty(textOf(m["model_id"]), textOf(m["id"]))
		s.Status = firstNonEmpty(textOf(m["training_status"]), s.Status)
	case m["id"] != nil || m["track_id"] != nil || m["output"] != nil || m["status"] != nil:
		s.Kind = kindGeneration
		s.ID = textOf(m["id"])
	default:
		s.Kind = kindUnknown
		s.ID = textOf(m["id"])
	}
	return s
}

// textOf renders a scalar JSON value as text (ids arrive as numbers or
// strings); objects and arrays give "".
func textOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	}
	return ""
}

// dedupeKey identifies a delivery for duplicate detection. ModelsLab says
// deliveries may repeat and to dedupe on id/track_id; the status is part of
// the key so a job's "processing" then "success" (or a training's successive
// training_status values) are not duplicates. Bodies with no id are keyed
// by their compact bytes.
func dedupeKey(s deliverySummary, compact []byte) string {
	if s.ID != "" || s.TrackID != "" {
		return s.Kind + "\x00" + s.ID + "\x00" + s.TrackID + "\x00" + s.Status
	}
	sum := sha256.Sum256(compact)
	return "body\x00" + hex.EncodeToString(sum[:])
}

// deduper remembers the deliveries seen. Only the processing goroutine uses
// it, so it needs no lock.
type deduper struct{ seen map[string]struct{} }

// maxDedupe bounds the memory a very long listen spends on duplicate
// detection; past it the set starts afresh.
const maxDedupe = 100_000

func (d *deduper) check(key string) (duplicate bool) {
	if d.seen == nil || len(d.seen) >= maxDedupe {
		d.seen = make(map[string]struct{})
	}
	if _, ok := d.seen[key]; ok {
		return true
	}
	d.seen[key] = struct{}{}
	return false
}

// deliveryLine is the JSON contract of one delivery: a line of `mlab listen
// --json` and of a --record file, read back by `mlab replay`.
//
// body is the payload itself as a JSON value. JSON lines cannot hold a
// pretty-printed body verbatim, so when the body's bytes differ from its
// compact form, raw_body carries them exactly (raw_body_base64 when they are
// not UTF-8), and replay sends those: bodies are re-sent byte for byte.
type deliveryLine struct {
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

// bodyBytes returns the exact bytes that were received.
func (l *deliveryLine) bodyBytes() ([]byte, error) {
	switch {
	case l.RawBodyBase64 != "":
		return base64.StdEncoding.DecodeString(l.RawBodyBase64)
	case l.RawBody != "":
		return []byte(l.RawBody), nil
	case len(l.Body) == 0:
		return nil, fmt.Errorf("no body")
	}
	return []byte(l.Body), nil
}

// processedDelivery is a delivery with everything the outputs need,
// computed once.
type processedDelivery struct {
	d       listener.Delivery
	sum     deliverySummary
	dup     bool
	line    []byte // the JSON line, newline included
	compact []byte
}

func processDelivery(d listener.Delivery, dd *deduper) (*processedDelivery, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.Body); err != nil {
		return nil, fmt.Errorf("compact body: %w", err) // the listener checked it is JSON
	}
	p := &processedDelivery{d: d, sum: summarize(d.Body), compact: compact.Bytes()}
	p.dup = dd.check(dedupeKey(p.sum, p.compact))
	l := deliveryLine{
		ReceivedAt: d.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Method:     d.Method,
		Path:       d.Path,
		Headers:    flattenHeaders(d.Header),
		Body:       p.compact,
		Duplicate:  p.dup,
		Kind:       p.sum.Kind,
	}
	if !bytes.Equal(p.compact, d.Body) {
		if utf8.Valid(d.Body) {
			l.RawBody = string(d.Body)
		} else {
			l.RawBodyBase64 = base64.StdEncoding.EncodeToString(d.Body)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	p.line = buf.Bytes()
	return p, nil
}

// flattenHeaders renders headers as one string per name (values joined with
// ", "), which is what people and jq want.
func flattenHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

func sortedHeaderNames(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// humanSize renders a byte count for people: 412 B, 3.1 KB, 2.0 MB.
func bodySize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
