package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// State is the normalised state of a job as a response reports it.
type State int

const (
	// StateUnknown is any status other than the three below (e.g. "queued",
	// "pending" or none at all); callers keep polling.
	StateUnknown State = iota
	// StateProcessing means the job is accepted and still running.
	StateProcessing
	// StateSuccess means the job is finished and Output holds the result.
	StateSuccess
	// StateFailed is status "error" or "failed".
	StateFailed
)

// String returns "unknown", "processing", "success" or "failed".
func (s State) String() string {
	switch s {
	case StateProcessing:
		return "processing"
	case StateSuccess:
		return "success"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// stateOf maps a body status to a State.
func stateOf(status string) State {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "success":
		return StateSuccess
	case "processing":
		return StateProcessing
	case "error", "failed":
		return StateFailed
	}
	return StateUnknown
}

// Response is a ModelsLab response (submit, fetch or webhook body) with its
// quirks normalised. Slices are never nil.
type Response struct {
	// Status is the body's "status", trimmed and lower-cased. For the
	// training and workflow families DecodeFor normalises it to
	// "success", "processing" or "failed" (or "" when unknown) so that
	// State drives a wait the same way for every family.
	Status string
	// ID is the top-level "id" as text: integer ids keep every digit, string
	// ids are kept, and absent, null or "" give "". meta.id is never used.
	ID string
	// TrackID is the top-level "track_id", else meta.track_id, as text.
	TrackID string
	// ETA is "eta" in seconds (number or numeric string); 0 when absent.
	ETA float64
	// FetchURL is "fetch_result", the server's own poll URL.
	FetchURL string
	// Output is the top-level "output" (array, single string, "" or null),
	// falling back to "links" (voice cover). meta.output is never used: on a
	// processing response it only lists future URLs.
	Output []string
	// FutureLinks is "future_links": the final URLs, valid once the job ends.
	FutureLinks []string
	// ProxyLinks is "proxy_links" (array, "", null or an object {"0": url}).
	ProxyLinks []string
	// Message is "message", else "messege", else "error" (of an error
	// object {"code","message","details"}, its message); an object such as
	// {"prompt":["The prompt field is required."]} is flattened to
	// "prompt: The prompt field is required.".
	Message string
	// Code is the body's machine-readable error code: "code", else
	// error.code (v7 and the agents API, e.g. "provider_error").
	Code string
	// Tip is "tip", else "tips".
	Tip string
	// GenerationTime is "generationTime" in seconds.
	GenerationTime float64
	// RetryAfter is "retry_after" (seconds, number or numeric string).
	RetryAfter time.Duration
	// Stage is the family-specific progress word (DecodeFor only): for
	// training deploying_gpu … model_ready (or a failure word); for
	// workflows execution.status (pending, running, completed, failed,
	// cancelled).
	Stage string
	// Logs is the training log text: "data" (fine_tune_status) or "logs"
	// (webhook). DecodeFor with FamilyTraining only.
	Logs string
	// ModelID is the trained model's id: "model_id", else "training_id".
	// DecodeFor with FamilyTraining only.
	ModelID string
	// Meta is "meta" as sent; nil when absent or null.
	Meta json.RawMessage
	// Raw is the whole body as received.
	Raw json.RawMessage
}

// State returns the normalised state of Status.
func (r *Response) State() State {
	if r == nil {
		return StateUnknown
	}
	return stateOf(r.Status)
}

// maxRetryAfter bounds retry_after so that absurd values cannot overflow a
// time.Duration; the client caps each wait much lower anyway.
const maxRetryAfter = 24 * time.Hour

var errNotObject = errors.New("body is not a JSON object")

// Decode parses a ModelsLab body. It fails only when body is not a JSON
// object; every field is read tolerantly.
func Decode(body []byte) (*Response, error) {
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errNotObject
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotObject, err)
	}
	r := &Response{
		Status:         strings.ToLower(strings.TrimSpace(textOf(top["status"]))),
		ID:             textOf(top["id"]),
		TrackID:        textOf(top["track_id"]),
		ETA:            nonNegative(numberOf(top["eta"])),
		FetchURL:       strings.TrimSpace(stringOf(top["fetch_result"])),
		Output:         listOf(top["output"]),
		FutureLinks:    listOf(top["future_links"]),
		ProxyLinks:     listOf(top["proxy_links"]),
		Message:        messageOf(top["message"]),
		Tip:            stringOf(top["tip"]),
		GenerationTime: nonNegative(numberOf(top["generationTime"])),
		Raw:            append(json.RawMessage(nil), body...),
	}
	if len(r.Output) == 0 {
		r.Output = listOf(top["links"])
	}
	if r.Message == "" {
		r.Message = messageOf(top["messege"])
	}
	r.Code = strings.TrimSpace(textOf(top["code"]))
	if e := top["error"]; kindOf(e) == '{' {
		var obj map[string]json.RawMessage
		if json.Unmarshal(e, &obj) == nil && (obj["message"] != nil || obj["code"] != nil) {
			if r.Code == "" {
				r.Code = strings.TrimSpace(textOf(obj["code"]))
			}
			if r.Message == "" {
				r.Message = messageOf(obj["message"])
			}
			if r.Message == "" {
				r.Message = messageOf(obj["details"])
			}
			if d, ok := top["data"]; ok && kindOf(d) == 'n' && r.Status == "" {
				// The agents API's envelope {"data":null,"error":{…}}.
				r.Status = "error"
			}
		}
	}
	if r.Message == "" {
		r.Message = messageOf(top["error"])
	}
	if r.Tip == "" {
		r.Tip = stringOf(top["tips"])
	}
	if secs := nonNegative(numberOf(top["retry_after"])); secs > 0 {
		r.RetryAfter = secondsToDuration(secs)
	}
	if m, ok := top["meta"]; ok && kindOf(m) != 'n' {
		r.Meta = m
		if r.TrackID == "" && kindOf(m) == '{' {
			var meta map[string]json.RawMessage
			if json.Unmarshal(m, &meta) == nil {
				r.TrackID = textOf(meta["track_id"])
			}
		}
	}
	return r, nil
}

// kindOf returns the first byte of a JSON value: '"', '{', '[', 'n', 't',
// 'f', or '0' for a number; 0 when raw is empty.
func kindOf(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '"', '{', '[', 'n', 't', 'f':
		return c
	}
	return '0'
}

// stringOf returns raw when it is a JSON string, else "".
func stringOf(raw json.RawMessage) string {
	if kindOf(raw) != '"' {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// textOf returns a string or a number as text ("" for anything else). An
// integral number keeps every digit; 1.347e8 becomes "134700000".
func textOf(raw json.RawMessage) string {
	switch kindOf(raw) {
	case '"':
		return strings.TrimSpace(stringOf(raw))
	case '0':
		return numberText(json.Number(bytes.TrimSpace(raw)))
	}
	return ""
}

func numberText(n json.Number) string {
	s := n.String()
	if isInteger(s) {
		return s
	}
	f, err := n.Float64()
	if err == nil && f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// numberOf returns a number or a numeric string as float64; 0 for anything
// else, including NaN and infinities.
func numberOf(raw json.RawMessage) float64 {
	var text string
	switch kindOf(raw) {
	case '0':
		text = string(bytes.TrimSpace(raw))
	case '"':
		text = strings.TrimSpace(stringOf(raw))
	default:
		return 0
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func nonNegative(f float64) float64 {
	if f < 0 {
		return 0
	}
	return f
}

func secondsToDuration(secs float64) time.Duration {
	if secs >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	return time.Duration(secs * float64(time.Second))
}

// listOf normalises a list of URLs: an array keeps its string (and number)
// elements, a non-empty string is a one-element list, an object keyed by
// indexes ({"0": url}) gives its values in index order; anything else,
// including "" and null, is an empty list. The result is never nil.
func listOf(raw json.RawMessage) []string {
	out := []string{}
	switch kindOf(raw) {
	case '"':
		if s := strings.TrimSpace(stringOf(raw)); s != "" {
			out = append(out, s)
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return out
		}
		for _, it := range items {
			if s := textOf(it); s != "" {
				out = append(out, s)
			}
		}
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return out
		}
		type kv struct {
			idx uint64
			key string
			val string
		}
		var kvs []kv
		for k, v := range obj {
			idx, err := strconv.ParseUint(k, 10, 64)
			if err != nil {
				continue
			}
			if s := textOf(v); s != "" {
				kvs = append(kvs, kv{idx, k, s})
			}
		}
		sort.Slice(kvs, func(i, j int) bool {
			if kvs[i].idx != kvs[j].idx {
				return kvs[i].idx < kvs[j].idx
			}
			return kvs[i].key < kvs[j].key
		})
		for _, e := range kvs {
			out = append(out, e.val)
		}
	}
	return out
}

// messageOf turns a message into one line of text. Strings and numbers are
// kept, arrays are joined with "; ", and objects (Laravel validation errors)
// become "field: text; field2: text" in key order.
func messageOf(raw json.RawMessage) string {
	switch kindOf(raw) {
	case '"', '0':
		return strings.TrimSpace(textOf(raw))
	case '[':
		return joinMessages(raw)
	case '{':
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			v := messageOf(obj[k])
			switch {
			case v == "":
				continue
			case k == "":
				parts = append(parts, v)
			default:
				parts = append(parts, k+": "+v)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

func joinMessages(raw json.RawMessage) string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return ""
	}
	var parts []string
	for _, it := range items {
		if v := messageOf(it); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, "; ")
}
