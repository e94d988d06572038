package runner_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// debugLog collects a runner's --debug lines.
type debugLog struct {
	mu    sync.Mutex
	lines []string
}

func (d *debugLog) printf(format string, a ...any) {
	d.mu.Lock()
	d.lines = append(d.lines, fmt.Sprintf(format, a...))
	d.mu.Unlock()
}

func (d *debugLog) has(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// Webhooks that never come are learned within a run: after two jobs that
// expected one ended by their links, the runner stops waiting for them
// (and says so with --debug); a journal that remembers as much teaches a
// new run the same from its first job, for the same tunnel mode only.
func TestWebhookHealthLearned(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Delay: 200 * time.Millisecond, DropWebhooks: true})
	t.Cleanup(func() { sb.Close() })
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := receiver.Open(context.Background(), receiver.Options{Mode: receiver.ModeLocal, APIBase: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	jr := openJournal(t)
	newRunnerOn := func(base string, d *debugLog) *runner.Runner {
		return runner.New(runner.Options{Client: api.New(base, "test-key"), BaseURL: base, Journal: jr, Receiver: rc,
			Wait: true, Timeout: time.Minute, Debug: d.printf})
	}
	newRunner := func(d *debugLog) *runner.Runner { return newRunnerOn(base, d) }
	d := &debugLog{}
	r := newRunner(d)
	for i := range 3 {
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if err != nil || o.Via != job.ViaLinks {
			t.Fatalf("job %d: %+v, %v; want via links", i, o, err)
		}
		if e := entry(t, jr, o.ID); e.Tunnel != "local" || e.Via != "links" {
			t.Fatalf("journal %+v", e)
		}
	}
	if !d.has("expecting webhooks (too few recent jobs to judge)") || !d.has("webhooks are not arriving: 0 of the last 2") {
		t.Fatalf("debug lines %q", d.lines)
	}

	// A new run on the same journal knows from its first job.
	d2 := &debugLog{}
	if _, err := newRunner(d2).Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{}); err != nil {
		t.Fatal(err)
	}
	if !d2.has("webhooks are not arriving: 0 of the last 3") {
		t.Fatalf("debug lines of the second run %q", d2.lines)
	}

	// Webhooks that arrive keep the zero-fetch path, and a journal of
	// another tunnel mode teaches nothing.
	for range 3 {
		jr.Add(journal.Entry{ID: fmt.Sprint(time.Now().UnixNano()), TrackID: "t", Endpoint: "text2img", Kind: "img", Status: journal.StatusSuccess,
			Via: "webhook", Tunnel: "ngrok", SubmittedAt: time.Now(), FinishedAt: time.Now()})
	}
	sb2 := sandbox.New(sandbox.Options{Delay: 200 * time.Millisecond})
	t.Cleanup(func() { sb2.Close() })
	base2, err := sb2.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d3 := &debugLog{}
	r3 := newRunnerOn(base2, d3)
	for range 5 { // the fifth job's wait judges the four before it
		if _, err := r3.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{}); err != nil {
			t.Fatal(err)
		}
	}
	// 4 local jobs by links, then 4 by webhook: half of the last 8
	if !d3.has("webhooks are not arriving: 0 of the last 4") || !d3.has("webhooks arrive: 4 of the last 8") {
		t.Fatalf("debug lines of the third run %q", d3.lines)
	}
}
