package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/listener"
)

func TestTriggerPayloadsHaveTheDocumentedShapes(t *testing.T) {
	cases := []struct {
		event  string
		nested bool
		id     string
		doc    string // the documented sample whose keys the payload must have
		kind   string
	}{
		{"success", false, "", "webhook.success.json", kindGeneration},
		{"failed", false, "", "webhook.failed.json", kindGeneration},
		{"training", false, "", "lora_fine_tune.webhook.json", kindTraining},
		{"workflow", false, "", "workflows.webhook.overview.json", kindWorkflow},
		{"workflow", true, "", "workflows.webhook.webhooks-page.json", kindWorkflow},
		{"success", false, "134701497", "webhook.success.json", kindGeneration},
		{"workflow", true, "exec_1", "workflows.webhook.webhooks-page.json", kindWorkflow},
	}
	for _, c := range cases {
		o := &TriggerOptions{Event: c.event, Nested: c.nested, ID: c.id, now: func() time.Time { return time.Unix(1767349845, 0) }}
		body, err := marshalNoEscape(o.samplePayload())
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
		sum := summarize(body)
		if sum.Kind != c.kind || sum.ID == "" || (c.id != "" && sum.ID != c.id) {
			t.Errorf("%s: summary %+v", c.event, sum)
		}
		if c.event == "success" && c.id == "134701497" && !bytes.Contains(body, []byte(`"id":134701497,`)) {
			t.Errorf("numeric id not sent as a number: %s", body)
		}
	}
	a, _ := marshalNoEscape((&TriggerOptions{Event: "success"}).samplePayload())
	b, _ := marshalNoEscape((&TriggerOptions{Event: "success"}).samplePayload())
	if summarize(a).ID == summarize(b).ID || summarize(a).TrackID == summarize(b).TrackID {
		t.Fatalf("ids not fresh: %s %s", a, b)
	}
	if idValue("007") != "007" || idValue("12") != json.Number("12") || idValue("abc") != "abc" {
		t.Fatal("idValue")
	}
}

type capture struct {
	mu      sync.Mutex
	bodies  [][]byte
	headers []http.Header
	status  int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.headers = append(c.headers, r.Header.Clone())
	st := c.status
	c.mu.Unlock()
	if st != 0 {
		w.WriteHeader(st)
	}
}

func TestReplaySendsRecordedBodiesByteForByte(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "rec.jsonl")
	files := []string{"webhook.success.json", "webhook.failed.json", "lora_fine_tune.webhook.json", "workflows.webhook.overview.json", "workflows.webhook.webhooks-page.json"}
	var lines []byte
	var dd deduper
	for _, name := range files {
		p, err := processDelivery(listener.Delivery{
			Method: "POST", Path: "/t", Body: readPayload(t, name), ReceivedAt: time.Now(),
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {"ModelsLab-Webhook/1.0"}, "Connection": {"close"}},
		}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, p.line...)
	}
	os.WriteFile(rec, lines, 0o600)

	c := &capture{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	var stdout, errOut lockedBuffer
	f := testFactory(t, &stdout, &errOut)
	if code := Run(context.Background(), f, []string{"replay", rec, "--to", srv.URL}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if len(c.bodies) != len(files) {
		t.Fatalf("%d bodies", len(c.bodies))
	}
	for i, name := range files {
		if !bytes.Equal(c.bodies[i], readPayload(t, name)) {
			t.Errorf("%s not byte for byte:\n%s", name, c.bodies[i])
		}
		h := c.headers[i]
		if h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("User-Agent") != "ModelsLab-Webhook/1.0" {
			t.Errorf("headers %v", h)
		}
	}
	if n := strings.Count(stdout.String(), "[200] POST "+srv.URL); n != len(files) {
		t.Fatalf("stdout:\n%s", stdout.String())
	}

	// filters, then a failing receiver: exit 4
	c.bodies = nil
	f = testFactory(t, io.Discard, io.Discard)
	if code := Run(context.Background(), f, []string{"replay", rec, "--to", srv.URL, "--id", "F5jvdzGnYi", "--id", "exec_xyz789"}); code != 0 || len(c.bodies) != 2 {
		t.Fatalf("exit %d, %d bodies", code, len(c.bodies))
	}
	c.status = 500
	f = testFactory(t, io.Discard, io.Discard)
	if code := Run(context.Background(), f, []string{"replay", rec, "--to", srv.URL, "--track-id", "video_001"}); code != ExitAPI {
		t.Fatalf("exit %d, want 4", code)
	}
}
