// Package webhook is the listen engine behind `mlab listen`, `mlab replay`
// and `mlab trigger`: it classifies and dedupes deliveries ([Summarize],
// [Deduper]), turns each into the JSON-line contract ([Line], [Process]),
// records them crash-safely ([Recorder]), relays them to the user's app
// from a bounded worker pool, sends recorded or sample deliveries ([Send],
// [ReadRecords], [Sample]), and runs it all over a receiver's registration
// ([Engine.Run]).
//
// It never prints: what happens arrives at an [Observer], and the command
// renders it.
package webhook

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mlabcli/mlab/internal/receiver"
)

// Delivery is one accepted webhook POST (receiver.Delivery).
type Delivery = receiver.Delivery

// Rejection is a request the listener answered with an error status
// (receiver.Rejection).
type Rejection = receiver.Rejection

// The kinds of webhook mlab recognises from a payload's shape
// (docs: modelslab-api.md §5).
const (
	KindGeneration = "generation" // {"status","id","output","track_id",...}
	KindTraining   = "training"   // {"status","training_status","logs","model_id"}
	KindWorkflow   = "workflow"   // {"event":"workflow.*",...}, flat or nested
	KindUnknown    = "unknown"
)

// Summary is what a person wants to see of a payload at a glance.
type Summary struct {
	Kind    string
	Status  string // status, training_status or the workflow execution's status
	ID      string // id, model_id or the workflow execution id
	TrackID string
}

// Summarize guesses the kind of a webhook body from its shape and pulls out
// its status, id and track_id. It never fails: an unrecognised body is
// KindUnknown with whatever fields it has.
func Summarize(body []byte) Summary {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&m) != nil || m == nil {
		return Summary{Kind: KindUnknown}
	}
	s := Summary{TrackID: textOf(m["track_id"]), Status: textOf(m["status"])}
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
		s.Kind = KindWorkflow
		s.ID = textOf(m["execution_id"])
		if exec != nil {
			s.ID = cmp.Or(s.ID, textOf(exec["id"]))
			s.Status = cmp.Or(s.Status, textOf(exec["status"]))
		}
		if s.Status == "" && event != "" {
			s.Status = strings.TrimPrefix(event, "workflow.")
		}
	case m["training_status"] != nil, m["logs"] != nil && m["model_id"] != nil && m["output"] == nil:
		s.Kind = KindTraining
		s.ID = cmp.Or(textOf(m["model_id"]), textOf(m["id"]))
		s.Status = cmp.Or(textOf(m["training_status"]), s.Status)
	case m["id"] != nil || m["track_id"] != nil || m["output"] != nil || m["status"] != nil:
		s.Kind = KindGeneration
		s.ID = textOf(m["id"])
	default:
		s.Kind = KindUnknown
		s.ID = textOf(m["id"])
	}
	return s
}

// Describe names a delivery in one short phrase: "generation 1347
// (track_id x)".
func (s Summary) Describe() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	if s.ID != "" {
		b.WriteString(" " + s.ID)
	}
	if s.TrackID != "" {
		b.WriteString(" (track_id " + s.TrackID + ")")
	}
	return b.String()
}

// textOf renders a scalar JSON value decoded with UseNumber as text (ids
// arrive as numbers or strings); objects, arrays and null give "".
func textOf(v any) string {
	switch v.(type) {
	case string, json.Number, bool:
		return fmt.Sprint(v)
	}
	return ""
}
