package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
)

// Events are the payload shapes [Sample] builds, as documented
// (modelslab-api.md §5; the samples are testdata/payloads/webhook.*.json,
// lora_fine_tune.webhook.json and workflows.webhook.*.json).
var Events = []string{"success", "failed", "training", "workflow"}

// Field is one member of an [Object].
type Field struct {
	Key string
	Val any
}

// Object is a JSON object that keeps its members in the order given, so
// sample payloads read like the documented ones.
type Object []Field

// Set replaces the member k, or appends it.
func (o *Object) Set(k string, v any) {
	for i := range *o {
		if (*o)[i].Key == k {
			(*o)[i].Val = v
			return
		}
	}
	*o = append(*o, Field{k, v})
}

// MarshalJSON renders the members in order, the values without HTML
// escaping.
func (o Object) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, f := range o {
		k, _ := json.Marshal(f.Key)
		v, err := Marshal(f.Val)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	return append(out, '}'), nil
}

// Marshal renders v as compact JSON without HTML escaping (URLs keep their
// & and the bytes read like the API's).
func Marshal(v any) ([]byte, error) {
	line, err := marshalLine(v)
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\n"), nil
}

var numericIDRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,17})$`)

// idValue sends an id made of digits as a JSON number (as the API does) and
// anything else as a string.
func idValue(s string) any {
	if numericIDRE.MatchString(s) {
		return json.Number(s)
	}
	return s
}

func randomAlnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[mrand.IntN(len(chars))]
	}
	return string(b)
}

func randomUUID() string {
	h := ids.Hex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// SampleOptions says which sample [Sample] builds.
type SampleOptions struct {
	Event   string // one of Events
	ID      string // the payload's id; "" for a fresh one
	TrackID string // "" for a fresh one (generations) or none (the others)
	Nested  bool   // workflow: the nested {event, workflow, execution} shape
	Now     time.Time
}

// Sample builds the event's documented shape with fresh ids; nil for an
// event not in Events.
func Sample(o SampleOptions) Object {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var p Object
	switch o.Event {
	case "success", "failed":
		return generationSample(o)
	case "training":
		p = trainingSample(o)
	case "workflow":
		if o.Nested {
			p = nestedWorkflowSample(o)
		} else {
			p = flatWorkflowSample(o)
		}
	default:
		return nil
	}
	if o.TrackID != "" {
		p.Set("track_id", o.TrackID)
	}
	return p
}

func generationSample(o SampleOptions) Object {
	id := o.ID
	if id == "" {
		id = fmt.Sprint(100_000_000 + mrand.IntN(900_000_000))
	}
	trackID := o.TrackID
	if trackID == "" {
		trackID = ids.TrackID()
	}
	if o.Event == "failed" {
		return Object{
			{"status", "failed"},
			{"id", idValue(id)},
			{"message", "Processing failed: Invalid input dimensions"},
			{"track_id", trackID},
		}
	}
	return Object{
		{"status", "success"},
		{"id", idValue(id)},
		{"output", []string{"https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/" + id + "-0.png"}},
		{"generationTime", 2.71},
		{"track_id", trackID},
		{"meta", Object{
			{"prompt", "a lighthouse at dusk"},
			{"model_id", "flux"},
			{"width", 512},
			{"height", 512},
			{"seed", 1234567890},
		}},
	}
}

func trainingSample(o SampleOptions) Object {
	id := o.ID
	if id == "" {
		id = randomAlnum(10)
	}
	return Object{
		{"status", "success"},
		{"training_status", "deploying_gpu"},
		{"logs", "it will take upto 25 minutes"},
		{"model_id", id},
	}
}

func nestedWorkflowSample(o SampleOptions) Object {
	id := o.ID
	if id == "" {
		id = "exec_" + ids.Hex(3)
	}
	now := o.Now.UTC()
	return Object{
		{"event", "workflow.completed"},
		{"workflow", Object{
			{"id", "wf_" + ids.Hex(3)},
			{"name", "My Image Pipeline"},
			{"user_id", 12345},
		}},
		{"execution", Object{
			{"id", idValue(id)},
			{"status", "completed"},
			{"started_at", now.Add(-45 * time.Second).Format(time.RFC3339)},
			{"completed_at", now.Format(time.RFC3339)},
			{"execution_time", 45.2},
			{"input_data", Object{{"prompt", "A beautiful sunset"}}},
			{"output_data", Object{{"images", []string{"https://cdn.modelslab.com/generated/" + ids.Hex(6) + ".png"}}}},
		}},
	}
}

func flatWorkflowSample(o SampleOptions) Object {
	id := o.ID
	if id == "" {
		id = fmt.Sprint(10_000 + mrand.IntN(90_000))
	}
	return Object{
		{"event", "workflow.completed"},
		{"execution_id", idValue(id)},
		{"workflow_id", randomUUID()},
		{"status", "completed"},
		{"output", Object{{"output", []string{"https://cdn.modelslab.com/generated/" + ids.Hex(6) + ".png"}}}},
		{"completed_at", o.Now.UTC().Format(time.RFC3339)},
	}
}
