package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// TestRunViaWebhook runs one job on loopback: a real receiver gives it a
// token, the sandbox POSTs the webhook there, and the future_links confirm
// it without a single fetch. (WebhookFirst: a busy machine that delays the
// POST must not let a probe of the links win.)
func TestRunViaWebhook(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Delay: 200 * time.Millisecond, WebhookFirst: true})
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
	jr, dl, obs := openJournal(t), &downloads{}, &recorder{}
	out := t.TempDir()
	r := runner.New(runner.Options{
		Client: api.New(base, "test-key"), BaseURL: base, Journal: jr, Receiver: rc,
		Wait: true, Timeout: time.Minute, OutputDir: out, Download: dl.fn,
	})
	j := newJob(t, "text2img", map[string]any{"prompt": "a lighthouse", "model_id": "flux"})
	o, err := r.Run(context.Background(), j, obs)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != runner.StatusSuccess || o.Via != job.ViaWebhook || len(o.Output) == 0 || len(o.Files) != len(o.Output) {
		t.Fatalf("outcome %+v", o)
	}
	if o.ID != j.ID || o.TrackID != j.TrackID || !strings.HasPrefix(o.TrackID, "mlab-") || o.Endpoint != "text2img" || o.ETA <= 0 {
		t.Fatalf("outcome ids %+v, job %+v", o, j)
	}
	// The sandbox counts a webhook once its POST is answered, which may be
	// just after the job ended here.
	for deadline := time.Now().Add(5 * time.Second); sb.Stats().WebhooksSent == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if st := sb.Stats(); st.Fetches != 0 || st.WebhooksSent != 1 {
		t.Errorf("sandbox stats %+v: want the webhook, confirmed by future_links, and no fetch", st)
	}
	hook, _ := j.Body["webhook"].(string)
	if !strings.HasPrefix(hook, rc.URL+"/") {
		t.Errorf("webhook %q is not on the receiver %s", hook, rc.URL)
	}
	if len(obs.submitted) != 1 || !strings.Contains(obs.submitted[0], "waiting for its webhook (local)") || len(obs.finished) != 1 {
		t.Errorf("events: submitted %q, finished %d", obs.submitted, len(obs.finished))
	}
	e := entry(t, jr, o.ID)
	if e.Status != journal.StatusSuccess || e.Via != "webhook" || len(e.Files) != len(o.Files) || e.BaseURL != base {
		t.Errorf("journal %+v", e)
	}
	if _, ok := e.Request["webhook"]; ok {
		t.Errorf("the journal keeps the secret webhook URL: %v", e.Request)
	}
}

// TestRunViaLinks runs one job with no receiver: its future links tell
// the end, for no fetch at all.
func TestRunViaLinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 2 * time.Second})
		jr, obs := openJournal(t), &recorder{}
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, Timeout: time.Minute})
		j := newJob(t, "text2img", map[string]any{"prompt": "x"})
		j.TrackID = "mlab-given"
		o, err := r.Run(context.Background(), j, obs)
		if err != nil {
			t.Fatal(err)
		}
		// eta 2 s: dense probes (150 ms) from 1.4 s on
		if o.Status != runner.StatusSuccess || o.Via != job.ViaLinks || o.Elapsed < 2*time.Second || o.Elapsed > 2150*time.Millisecond || o.TrackID != "mlab-given" {
			t.Fatalf("outcome %+v", o)
		}
		if len(o.Output) != 1 || o.Output[0] != memBase+"/generations/"+o.ID+"-0.png" {
			t.Fatalf("output %v, want the future link", o.Output)
		}
		if st := sb.Stats(); st.Fetches != 0 || st.Probes == 0 {
			t.Errorf("%d fetches and %d probes, want no fetch", st.Fetches, st.Probes)
		}
		if obs.submitted[0] != o.ID+" ; polling for the result" {
			t.Errorf("submitted %q", obs.submitted)
		}
		if e := entry(t, jr, "mlab-given"); e.Status != journal.StatusSuccess || e.Via != "links" || e.Tunnel != "none" || e.FinishedAt.IsZero() || e.Request["track_id"] != "mlab-given" {
			t.Errorf("journal %+v", e)
		}
	})
}

// TestRunViaPoll runs one job with link watching off: fetches across the
// eta window find the end.
func TestRunViaPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 2 * time.Second})
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Wait: true, Timeout: time.Minute, ProbeRate: -1})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		// wanted at 1.7 s (processing), then 2 s, which the official CLI's
		// budget (its second fetch is at 3 s) moves to 3 s
		if o.Status != runner.StatusSuccess || o.Via != job.ViaPoll || o.Elapsed != 3*time.Second {
			t.Fatalf("outcome %+v", o)
		}
		if st := sb.Stats(); st.Fetches != 2 || st.Probes != 0 {
			t.Errorf("%d fetches and %d probes, want 2 fetches", st.Fetches, st.Probes)
		}
	})
}

func TestRunFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second, Fail: true, FailMessage: "NSFW content"})
		jr := openJournal(t)
		r := runner.New(runner.Options{Client: client, Journal: jr, Wait: true, Timeout: time.Minute})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		var failed *runner.FailedError
		if !errors.As(err, &failed) || o == nil {
			t.Fatalf("err %v, outcome %+v: want a FailedError and the outcome", err, o)
		}
		if o.Status != runner.StatusFailed || o.Message != "NSFW content" || o.Via != job.ViaPoll {
			t.Fatalf("outcome %+v", o)
		}
		if e := entry(t, jr, o.ID); e.Status != journal.StatusFailed || e.Message != "NSFW content" {
			t.Errorf("journal %+v", e)
		}
	})
}

func TestRunTimedOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Hour})
		jr := openJournal(t)
		r := runner.New(runner.Options{Client: client, Journal: jr, Wait: true, Timeout: 10 * time.Second})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		var stopped *runner.StoppedError
		if !errors.As(err, &stopped) || !errors.Is(err, runner.ErrTimeout) || stopped.ID != o.ID {
			t.Fatalf("err %v: want a StoppedError wrapping ErrTimeout", err)
		}
		if o.Status != runner.StatusProcessing || o.Elapsed != 10*time.Second {
			t.Fatalf("outcome %+v", o)
		}
		if e := entry(t, jr, o.ID); e.Status != journal.StatusProcessing || !e.FinishedAt.IsZero() {
			t.Errorf("journal %+v: a stopped job stays processing for mlab wait", e)
		}
		if r.FetchURL(&runner.Job{Endpoint: mustEndpoint(t, "text2img"), ID: o.ID}) == "" {
			t.Error("no fetch URL for the resume hint")
		}
	})
}

func TestRunCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		obs := &recorder{onSubmit: func(*runner.Job) { cancel() }}
		r := runner.New(runner.Options{Client: client, Wait: true, Timeout: time.Hour})
		o, err := r.Run(ctx, newJob(t, "text2img", map[string]any{"prompt": "x"}), obs)
		var stopped *runner.StoppedError
		if !errors.As(err, &stopped) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v: want a StoppedError wrapping context.Canceled", err)
		}
		if o.Status != runner.StatusProcessing || o.Elapsed != 0 {
			t.Fatalf("outcome %+v", o)
		}
		if len(obs.finished) != 1 || obs.errs[0] != err {
			t.Errorf("Finished saw %v, want the run's error", obs.errs)
		}
	})
}

func TestRunImmediateDownloadsAndUploads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Immediate: true})
		in := filepath.Join(t.TempDir(), "in.png")
		if err := os.WriteFile(in, []byte("\x89PNG\r\n\x1a\nfake"), 0o600); err != nil {
			t.Fatal(err)
		}
		dl, obs := &downloads{}, &recorder{}
		out := t.TempDir()
		r := runner.New(runner.Options{Client: client, Wait: true, Timeout: time.Minute, OutputDir: out, Download: dl.fn})
		j := newJob(t, "img2img", map[string]any{"prompt": "x", "init_image": in})
		o, err := r.Run(context.Background(), j, obs)
		if err != nil {
			t.Fatal(err)
		}
		if o.Via != job.ViaImmediate || o.Status != runner.StatusSuccess || len(o.Files) != len(o.Output) || filepath.Dir(o.Files[0]) != out {
			t.Fatalf("outcome %+v", o)
		}
		if len(obs.submitted) != 0 {
			t.Errorf("an immediate job was waited for: %q", obs.submitted)
		}
		if texts := obs.noticeTexts(); len(texts) != 1 || texts[0] != "uploaded "+in+" (12 bytes) for init_image" {
			t.Errorf("notices %q", texts)
		}
		if u, _ := j.Body["init_image"].(string); !strings.HasPrefix(u, memBase+"/uploads/") {
			t.Errorf("init_image sent as %q, want the upload URL", j.Body["init_image"])
		}
		if st := sb.Stats(); st.Uploads != 1 || st.Fetches != 0 {
			t.Errorf("sandbox stats %+v", st)
		}

		dl.fail = errors.New("disk full")
		_, err = r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "y"}), obs)
		var de *runner.DownloadError
		if !errors.As(err, &de) {
			t.Fatalf("err %v: want a DownloadError", err)
		}
	})
}

func TestRunSubmitOnlyAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{})
		r := runner.New(runner.Options{Client: client})
		j := newJob(t, "text2img", map[string]any{"prompt": "x"})
		o, err := r.Run(context.Background(), j, &recorder{})
		if err != nil || o.Status != runner.StatusProcessing || o.Via != "" || o.ID == "" {
			t.Fatalf("submit only: %+v, %v", o, err)
		}
		if _, ok := j.Body["webhook"]; ok {
			t.Error("a webhook URL without a receiver")
		}
		// The sandbox refuses a text2img without a prompt: nothing submitted.
		o, err = r.Run(context.Background(), newJob(t, "text2img", map[string]any{"model_id": "flux"}), &recorder{})
		var ae *api.Error
		if o != nil || !errors.As(err, &ae) || !strings.HasPrefix(err.Error(), "submit text2img: ") {
			t.Fatalf("refused submit: %+v, %v", o, err)
		}
		// A local input that vanished before the upload.
		missing := filepath.Join(t.TempDir(), "gone.png")
		j = &runner.Job{Endpoint: mustEndpoint(t, "img2img"), Body: map[string]any{"prompt": "x", "init_image": missing},
			Inputs: []api.LocalInput{{Field: "init_image", Index: -1, Path: missing}}}
		var ie *api.InputError
		if o, err = r.Run(context.Background(), j, &recorder{}); o != nil || !errors.As(err, &ie) {
			t.Fatalf("vanished input: %+v, %v", o, err)
		}
	})
}

func mustEndpoint(t *testing.T, name string) api.Endpoint {
	t.Helper()
	ep, ok := api.Lookup(name)
	if !ok {
		t.Fatalf("no endpoint %s", name)
	}
	return ep
}
