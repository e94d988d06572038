package webhook

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

func TestTriggerPayloadsHaveTheDocumentedShapes(t *testing.T) {
	cases := []struct {
		event  string
		nested bool
		id     string
		doc    string // the documented sample whose keys the payload must have
		kind   string
	}{
		{"success", false, "", "webhook.success.json", KindGeneration},
		{"failed", false, "", "webhook.failed.json", KindGeneration},
		{"training", false, "", "lora_fine_tune.webhook.json", KindTraining},
		{"workflow", false, "", "workflows.webhook.overview.json", KindWorkflow},
		{"workflow", true, "", "workflows.webhook.webhooks-page.json", KindWorkflow},
		{"success", false, "134701497", "webhook.success.json", KindGeneration},
		{"workflow", true, "exec_1", "workflows.webhook.webhooks-page.json", KindWorkflow},
	}
	for _, c := range cases {
		o := SampleOptions{Event: c.event, Nested: c.nested, ID: c.id, Now: time.Unix(1767349845, 0)}
		body, err := Marshal(Sample(o))
		if err != nil {
			t.Fatal(err)
		}
		var got, want map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(readPayload(t, c.doc), &want)
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: key %q of %s missing: %s", c.event, k, c.doc, body)
			}
		}
		sum := Summarize(body)
		if sum.Kind != c.kind || sum.ID == "" || (c.id != "" && sum.ID != c.id) {
			t.Errorf("%s: summary %+v", c.event, sum)
		}
		if c.event == "success" && c.id == "134701497" && !bytes.Contains(body, []byte(`"id":134701497,`)) {
			t.Errorf("numeric id not sent as a number: %s", body)
		}
	}
	a, _ := Marshal(Sample(SampleOptions{Event: "success"}))
	b, _ := Marshal(Sample(SampleOptions{Event: "success"}))
	if Summarize(a).ID == Summarize(b).ID || Summarize(a).TrackID == Summarize(b).TrackID {
		t.Fatalf("ids not fresh: %s %s", a, b)
	}
	if idValue("007") != "007" || idValue("12") != json.Number("12") || idValue("abc") != "abc" {
		t.Fatal("idValue")
	}
}

// TestSamplesAreByteExact: with the ids and the time fixed, the samples are
// exactly the bytes mlab trigger has always sent; Object keeps its order
// and escapes HTML only in keys.
func TestSamplesAreByteExact(t *testing.T) {
	now := time.Date(2026, 1, 2, 10, 30, 45, 0, time.UTC)
	for _, c := range []struct {
		o    SampleOptions
		want string
	}{
		{SampleOptions{Event: "success", ID: "134701497", TrackID: "job-1"},
			`{"status":"success","id":134701497,"output":["https://pub-3626123a908346a7a8be8d9295f44e26.r2.dev/generations/134701497-0.png"],"generationTime":2.71,"track_id":"job-1","meta":{"prompt":"a lighthouse at dusk","model_id":"flux","width":512,"height":512,"seed":1234567890}}`},
		{SampleOptions{Event: "failed", ID: "abc123-def456", TrackID: "job-2"},
			`{"status":"failed","id":"abc123-def456","message":"Processing failed: Invalid input dimensions","track_id":"job-2"}`},
		{SampleOptions{Event: "training", ID: "F5jvdzGnYi", TrackID: "t"},
			`{"status":"success","training_status":"deploying_gpu","logs":"it will take upto 25 minutes","model_id":"F5jvdzGnYi","track_id":"t"}`},
	} {
		c.o.Now = now
		got, err := Marshal(Sample(c.o))
		if err != nil || string(got) != c.want {
			t.Errorf("%s:\n got %s, %v\nwant %s", c.o.Event, got, err, c.want)
		}
	}
	flat, _ := Marshal(Sample(SampleOptions{Event: "workflow", ID: "12345", Now: now}))
	if !regexp.MustCompile(`^\{"event":"workflow\.completed","execution_id":12345,"workflow_id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}","status":"completed","output":\{"output":\["https://cdn\.modelslab\.com/generated/[0-9a-f]{12}\.png"\]\},"completed_at":"2026-01-02T10:30:45Z"\}$`).Match(flat) {
		t.Errorf("flat workflow %s", flat)
	}
	nested, _ := Marshal(Sample(SampleOptions{Event: "workflow", Nested: true, Now: now}))
	if !regexp.MustCompile(`^\{"event":"workflow\.completed","workflow":\{"id":"wf_[0-9a-f]{6}","name":"My Image Pipeline","user_id":12345\},"execution":\{"id":"exec_[0-9a-f]{6}","status":"completed","started_at":"2026-01-02T10:30:00Z","completed_at":"2026-01-02T10:30:45Z","execution_time":45\.2,"input_data":\{"prompt":"A beautiful sunset"\},"output_data":\{"images":\["https://cdn\.modelslab\.com/generated/[0-9a-f]{12}\.png"\]\}\}\}$`).Match(nested) {
		t.Errorf("nested workflow %s", nested)
	}
	if Sample(SampleOptions{Event: "refund"}) != nil {
		t.Error("a sample for an unknown event")
	}

	o := Object{{"<a&b>", "x&y<z>"}, {"n", json.Number("12")}, {"nested", Object{{"u", []string{"https://x/?a=1&b=2"}}, {"e", Object{}}}}, {"f", 2.71}, {"m", map[string]any{"z<": 1, "a": "&"}}}
	o.Set("n", json.Number("13"))
	got, err := Marshal(o)
	if want := `{"\u003ca\u0026b\u003e":"x&y<z>","n":13,"nested":{"u":["https://x/?a=1&b=2"],"e":{}},"f":2.71,"m":{"a":"&","z<":1}}`; err != nil || string(got) != want {
		t.Fatalf("Object:\n got %s, %v\nwant %s", got, err, want)
	}
}
