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
	methods []string
	bodies  [][]byte
	headers []http.Header
	status  int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.methods = append(c.methods, r.Method)
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

// TestReplayPostsAndDropsCredentials: a recorded line naming another
// method is replayed as the POST replay prints; recorded Authorization,
// Cookie and API-key headers are not sent (and said so) unless
// --keep-credentials.
func TestReplayPostsAndDropsCredentials(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	line := `{"received_at":"2026-01-02T10:30:00Z","method":"DELETE","path":"/t0k","headers":{"Authorization":"Bearer s3cret","Cookie":"session=abc","X-Api-Key":"k3y","Content-Type":"application/json","User-Agent":"ModelsLab"},"body":{"status":"success","id":1},"duplicate":false,"kind":"generation"}` + "\n"
	os.WriteFile(rec, []byte(line+line), 0o600)
	c := &capture{}
	srv := httptest.NewServer(c)
	defer srv.Close()

	var stdout, errOut lockedBuffer
	if code := Run(context.Background(), testFactory(t, &stdout, &errOut), []string{"replay", rec, "--to", srv.URL}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if len(c.methods) != 2 || c.methods[0] != http.MethodPost || c.methods[1] != http.MethodPost {
		t.Fatalf("sent %q, want POSTs", c.methods)
	}
	for _, h := range c.headers {
		if h.Get("Authorization") != "" || h.Get("Cookie") != "" || h.Get("X-Api-Key") != "" || h.Get("User-Agent") != "ModelsLab" {
			t.Fatalf("sent headers %v", h)
		}
	}
	if n := strings.Count(stdout.String(), "[200] POST "+srv.URL); n != 2 {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	for _, h := range []string{"Authorization", "Cookie", "X-Api-Key"} {
		if n := strings.Count(errOut.String(), "not sending the recorded "+h+" header (--keep-credentials sends it)"); n != 1 {
			t.Fatalf("%s named %d times on stderr:\n%s", h, n, errOut.String())
		}
	}

	c.headers = nil
	if code := Run(context.Background(), testFactory(t, io.Discard, io.Discard), []string{"replay", rec, "--to", srv.URL, "--keep-credentials"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if h := c.headers[0]; h.Get("Authorization") != "Bearer s3cret" || h.Get("Cookie") != "session=abc" || h.Get("X-Api-Key") != "k3y" {
		t.Fatalf("--keep-credentials sent %v", h)
	}
}

// TestReplayAndTriggerOutputIsTerminalSafe: a recorded payload's id and
// track_id holding escape sequences and forged lines reach the terminal
// escaped; --json keeps them exact.
func TestReplayAndTriggerOutputIsTerminalSafe(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "rec.jsonl")
	line := `{"received_at":"2026-01-02T10:30:00Z","method":"POST","path":"/t0k","headers":{},"body":{"status":"success","id":"\u001b[2J\u001b]0;pwned\u0007","track_id":"x\r\n[200] POST forged \u202e"},"duplicate":false,"kind":"generation"}` + "\n"
	os.WriteFile(rec, []byte(line), 0o600)
	srv := httptest.NewServer(&capture{})
	defer srv.Close()
	var stdout, errOut lockedBuffer
	if code := Run(context.Background(), testFactory(t, &stdout, &errOut), []string{"replay", rec, "--to", srv.URL}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	out := stdout.String()
	if strings.ContainsAny(out, "\x1b\x07\r\u202e") || strings.Count(out, "\n") != 1 || !strings.Contains(out, `\x1b[2J\x1b]0;pwned\x07`) || !strings.Contains(out, `x\r\n[200] POST forged \u202e`) {
		t.Fatalf("replay printed %q", out)
	}
	stdout = lockedBuffer{}
	if code := Run(context.Background(), testFactory(t, &stdout, io.Discard), []string{"replay", rec, "--to", srv.URL, "--json"}); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	if !strings.Contains(stdout.String(), `"id":"\u001b[2J\u001b]0;pwned\u0007"`) {
		t.Fatalf("--json is not the exact JSON: %s", stdout.String())
	}

	stdout = lockedBuffer{}
	if code := Run(context.Background(), testFactory(t, &stdout, io.Discard), []string{"trigger", "success", "--to", srv.URL, "--id", "\x1b]52;c;cHduZWQ=\x07", "--track-id", "a\nb"}); code != 0 {
		t.Fatalf("trigger: exit %d", code)
	}
	if out := stdout.String(); strings.ContainsAny(out, "\x1b\x07") || strings.Count(out, "\n") != 1 || !strings.Contains(out, `\x1b]52;c;cHduZWQ=\x07 (track_id a\nb)`) {
		t.Fatalf("trigger printed %q", out)
	}
}
