package cmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/webhook"
)

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
	var dd webhook.Deduper
	for _, name := range files {
		p, err := webhook.Process(webhook.Delivery{
			Method: "POST", Path: "/t", Body: readPayload(t, name), ReceivedAt: time.Now(),
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "User-Agent": {"ModelsLab-Webhook/1.0"}, "Connection": {"close"}},
		}, &dd)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, p.Line...)
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
