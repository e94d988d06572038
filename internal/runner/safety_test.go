package runner_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// Money and time. A job that may have been paid for is never unknown to
// the journal, and never submitted twice without being asked; the
// context's deadline bounds all of a job.

// fakeAPI serves submits with answer (and anything else "processing"), in
// memory; it counts the submits.
func fakeAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*api.Client, *atomic.Int64) {
	t.Helper()
	var submits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/fetch") {
			io.WriteString(w, `{"status":"processing"}`)
			return
		}
		submits.Add(1)
		answer(w, r)
	})
	return api.New(memBase, "test-key", api.WithHTTPClient(&http.Client{Transport: handlerTransport{h}}), api.WithRetry(1, 0)), &submits
}

// TestIntentBeforeSubmit: when the API sees the submit, the journal
// already holds the job (track_id, endpoint, request, no id); once answered
// the intent is completed with the id.
func TestIntentBeforeSubmit(t *testing.T) {
	jr := openJournal(t)
	var seen []journal.Entry
	client, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		seen, _ = jr.List(journal.Filter{})
		io.WriteString(w, `{"status":"processing","id":42,"eta":5}`)
	})
	r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, BatchID: "b-000000000007"})
	j := newJob(t, "text2img", map[string]any{"prompt": "a fox"})
	j.Line, j.TrackID = 3, "mlab-intent"
	if _, err := r.Run(context.Background(), j, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("the journal held %d entries when the submit arrived, want its intent", len(seen))
	}
	in := seen[0]
	if in.ID != "" || in.Status != journal.StatusSubmitting || in.TrackID != "mlab-intent" || in.Endpoint != "text2img" ||
		in.Request["prompt"] != "a fox" || in.BatchID != "b-000000000007" || in.Line != 3 || in.BaseURL != memBase {
		t.Fatalf("intent %+v", in)
	}
	all, err := jr.List(journal.Filter{})
	if err != nil || len(all) != 1 || all[0].ID != "42" || all[0].Status != journal.StatusProcessing || !all[0].SubmittedAt.Equal(in.SubmittedAt) {
		t.Fatalf("after the answer: %+v, %v", all, err)
	}
}

// TestIntentForgottenOnlyWhenNotSubmitted: an answer that proves no job was
// made drops the intent; anything else keeps it (the job may exist) and is
// a SubmitUnknownError.
func TestIntentForgottenOnlyWhenNotSubmitted(t *testing.T) {
	cases := []struct {
		name  string
		code  int
		body  string
		known bool // the submit certainly made no job
	}{
		{"bad request", 400, `{"status":"error","message":"prompt is required"}`, true},
		{"queue full", 429, `{"status":"error","message":"Rate limit exceeded.","retry_after":1}`, true},
		{"unavailable", 503, `{"status":"error","message":"down"}`, true},
		{"refused with 200", 200, `{"status":"error","message":"Invalid Api Key"}`, true},
		{"server error", 500, `{"status":"error","message":"oops"}`, false},
		{"bad gateway page", 502, `<html>bad gateway</html>`, false},
		{"processing without an id", 200, `{"status":"processing","message":"queued, no id"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jr := openJournal(t)
			client, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.code)
				io.WriteString(w, c.body)
			})
			r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true})
			o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
			if o != nil || err == nil {
				t.Fatalf("outcome %+v, err %v", o, err)
			}
			entries, _ := jr.List(journal.Filter{})
			var unknown *runner.SubmitUnknownError
			if c.known {
				if len(entries) != 0 || errors.As(err, &unknown) {
					t.Fatalf("journal %+v, err %v: want the intent dropped", entries, err)
				}
				return
			}
			if !errors.As(err, &unknown) || !unknown.Journaled || len(entries) != 1 || entries[0].Status != journal.StatusSubmitting || entries[0].TrackID != unknown.TrackID {
				t.Fatalf("journal %+v, err %v: want the intent kept and a SubmitUnknownError", entries, err)
			}
			if !strings.Contains(err.Error(), "may have been submitted (track_id "+unknown.TrackID+")") {
				t.Errorf("message %q", err)
			}
		})
	}

	// A dial error: nothing left.
	base := closedBase(t)
	jr := openJournal(t)
	r := runner.New(runner.Options{Client: api.New(base, "test-key", api.WithRetry(1, 0)), BaseURL: base, Journal: jr})
	if _, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{}); !api.IsKind(err, api.KindNetwork) {
		t.Fatalf("closed port: %v", err)
	}
	if entries, _ := jr.List(journal.Filter{}); len(entries) != 0 {
		t.Fatalf("closed port: journal %+v", entries)
	}
}

// TestProcessingWithoutID: the API's message, an API error (not a job to
// wait for), the job journalled by its track_id.
func TestProcessingWithoutID(t *testing.T) {
	jr := openJournal(t)
	client, _ := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"processing","message":"your job is queued"}`)
	})
	r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true})
	j := newJob(t, "text2img", map[string]any{"prompt": "x"})
	j.TrackID = "mlab-noid"
	_, err := r.Run(context.Background(), j, &recorder{})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind == api.KindRejected || ae.Message != "your job is queued" {
		t.Fatalf("err %v: want an API error with the body's message", err)
	}
	if e, err := jr.Get("mlab-noid"); err != nil || e.Status != journal.StatusSubmitting {
		t.Fatalf("journal: %+v, %v", e, err)
	}
}

// runInterrupted runs a job whose submit answers after submitDelay and
// interrupts it after a second.
func runInterrupted(t *testing.T, jr *journal.Journal, submitDelay time.Duration) (*runner.Outcome, error) {
	_, client := memAPI(t, sandbox.Options{Delay: time.Hour, SubmitDelay: submitDelay})
	r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	return r.Run(ctx, newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
}

// TestInterruptLetsSubmitFinish: Ctrl-C during a 3 s submit waits for its
// answer, then stops with the id, journalled.
func TestInterruptLetsSubmitFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jr, start := openJournal(t), time.Now()
		o, err := runInterrupted(t, jr, 3*time.Second)
		var stopped *runner.StoppedError
		if !errors.As(err, &stopped) || !errors.Is(err, context.Canceled) || o == nil || o.ID == "" || stopped.ID != o.ID {
			t.Fatalf("outcome %+v, err %v: want the job's id and a StoppedError", o, err)
		}
		if took := time.Since(start); took != 3*time.Second {
			t.Errorf("returned after %s, want the submit's 3s", took)
		}
		if e := entry(t, jr, o.ID); e.Status != journal.StatusProcessing {
			t.Errorf("journal %+v", e)
		}
	})
}

// TestInterruptGraceIsBounded: a submit that never answers is let go on
// for SubmitGrace after Ctrl-C, no longer; the intent stays.
func TestInterruptGraceIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jr, start := openJournal(t), time.Now()
		_, err := runInterrupted(t, jr, time.Hour)
		var unknown *runner.SubmitUnknownError
		if !errors.As(err, &unknown) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v: want a SubmitUnknownError of the interrupt", err)
		}
		if took := time.Since(start); took != time.Second+runner.DefaultSubmitGrace {
			t.Errorf("returned after %s, want 1s + the grace", took)
		}
		if entries, _ := jr.List(journal.Filter{Status: journal.StatusSubmitting}); len(entries) != 1 || entries[0].TrackID != unknown.TrackID {
			t.Errorf("journal %+v", entries)
		}
	})
}

// TestFetchAndResumeKeepTheRecord: mlab fetch and a second wait of a
// finished job keep its files, how it arrived and when it finished.
func TestFetchAndResumeKeepTheRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second})
		jr, dl := openJournal(t), &downloads{}
		out := t.TempDir()
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, OutputDir: out, Download: dl.fn})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		before := entry(t, jr, o.ID)
		time.Sleep(time.Minute)

		j := runner.Resumed(mustEndpoint(t, before.Endpoint), *before)
		if _, err := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr}).Fetch(context.Background(), j, &recorder{}); err != nil {
			t.Fatal(err)
		}
		after := entry(t, jr, o.ID)
		if len(after.Files) != 1 || after.Files[0] != before.Files[0] || after.Via != before.Via || !after.FinishedAt.Equal(before.FinishedAt) {
			t.Fatalf("after mlab fetch: %+v, was %+v", after, before)
		}
		time.Sleep(time.Minute)
		if _, err := r.Run(context.Background(), runner.Resumed(mustEndpoint(t, after.Endpoint), *after), &recorder{}); err != nil {
			t.Fatal(err)
		}
		if again := entry(t, jr, o.ID); !again.FinishedAt.Equal(before.FinishedAt) || len(again.Files) != 1 || len(dl.calls) != 1 {
			t.Fatalf("after a second wait: %+v (%d downloads)", again, len(dl.calls))
		}
	})
}

// TestDownloadFailureKeepsTheJob: a finished job whose download fails is
// a success with the files that arrived and a DownloadError naming what to
// download again; the journal keeps it succeeded.
func TestDownloadFailureKeepsTheJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second})
		jr := openJournal(t)
		out := t.TempDir()
		var media []bool
		download := func(_ context.Context, urls []string, dir string, o runner.DownloadOptions) ([]string, error) {
			media = append(media, o.Media)
			files := make([]string, len(urls))
			files[0] = filepath.Join(dir, "first.png")
			return files, errors.New("disk full")
		}
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, OutputDir: out, Download: download})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x", "samples": 2}), &recorder{})
		var de *runner.DownloadError
		if !errors.As(err, &de) || de.ID != o.ID || de.Dir != out {
			t.Fatalf("err %v: want a DownloadError naming the job and the directory", err)
		}
		if o.Status != runner.StatusSuccess || len(o.Output) != 2 || len(o.Files) != 2 || o.Files[0] == "" || o.Files[1] != "" {
			t.Fatalf("outcome %+v", o)
		}
		if e := entry(t, jr, o.ID); e.Status != journal.StatusSuccess || len(e.Output) != 2 {
			t.Fatalf("journal %+v", e)
		}
		if len(media) != 1 || !media[0] {
			t.Errorf("an image job's download was not asked for media files: %v", media)
		}
	})
}

// TestBatchResumeKnowsUnknownLines: a plan's lines carry track ids from
// before any submit; a line whose submit was sent and never answered is
// Unknown, not Unsubmitted, until it is submitted again on purpose.
func TestBatchResumeKnowsUnknownLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: time.Second})
		jr := openJournal(t)
		const id = "b-00000000000a"
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, BatchID: id})
		jobs := batchJobs(t, 3)
		if err := r.SavePlan(jobs); err != nil {
			t.Fatal(err)
		}
		plan, err := jr.LoadPlan(id)
		if err != nil || plan.BaseURL != memBase || len(plan.Lines) != 3 {
			t.Fatalf("plan %+v, %v", plan, err)
		}
		for i, l := range plan.Lines {
			if l.TrackID == "" || l.TrackID != jobs[i].TrackID {
				t.Fatalf("plan line %+v: want the job's track_id %q", l, jobs[i].TrackID)
			}
		}
		// Line 1 ran; line 2 was sent and never answered (mlab was killed);
		// line 3 never left.
		if _, err := r.Run(context.Background(), jobs[0], &recorder{}); err != nil {
			t.Fatal(err)
		}
		if _, err := jr.AddIntent(journal.Entry{TrackID: jobs[1].TrackID, Endpoint: "text2img", BaseURL: memBase, BatchID: id, Line: 2}); err != nil {
			t.Fatal(err)
		}
		st, err := runner.LoadBatch(jr, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Journalled != 1 || len(st.Unfinished) != 0 || len(st.Unknown) != 1 || st.Unknown[0].Line != 2 ||
			len(st.Unsubmitted) != 1 || st.Unsubmitted[0].Line != 3 || st.Unsubmitted[0].TrackID != jobs[2].TrackID {
			t.Fatalf("batch state %+v", st)
		}
		// Submitted again on purpose: the unknown intent is replaced.
		redo := &runner.Job{Endpoint: mustEndpoint(t, "text2img"), Body: plan.Lines[1].Body, Line: 2, TrackID: plan.Lines[1].TrackID, Resubmit: &st.Unknown[0]}
		if _, err := r.Run(context.Background(), redo, &recorder{}); err != nil {
			t.Fatal(err)
		}
		if st, _ = runner.LoadBatch(jr, id); st.Journalled != 2 || len(st.Unknown) != 0 || len(st.Unsubmitted) != 1 {
			t.Fatalf("after the resubmit: %+v", st)
		}
		if got := sb.Stats().Jobs; got != 2 {
			t.Errorf("%d jobs at the API, want 2", got)
		}
	})
}

// TestSandboxJobsAreMarked: a job of an in-process sandbox is journalled
// as such, and ResumeBase never lets the key go to its port, nor to
// another API than the configured one.
func TestSandboxJobsAreMarked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second})
		jr := openJournal(t)
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Sandbox: true})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		e := entry(t, jr, o.ID)
		if !runner.IsSandboxBase(e.BaseURL) || e.BaseURL != runner.SandboxBase(memBase) {
			t.Fatalf("journalled base %q", e.BaseURL)
		}
		var gone *runner.SandboxGoneError
		if _, err := runner.ResumeBase(e.BaseURL, memBase); !errors.As(err, &gone) || gone.Addr != memBase {
			t.Fatalf("ResumeBase of a sandbox job: %v", err)
		}
	})
	var other *runner.OtherAPIError
	for _, c := range []struct {
		recorded, configured, want string
	}{
		{"", "https://modelslab.com", "https://modelslab.com"},
		{"https://modelslab.com", "https://modelslab.com/", "https://modelslab.com"},
		{"https://ModelsLab.com:443", "https://modelslab.com", "https://ModelsLab.com:443"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080"},
	} {
		if got, err := runner.ResumeBase(c.recorded, c.configured); err != nil || got != c.want {
			t.Errorf("ResumeBase(%q, %q) = %q, %v", c.recorded, c.configured, got, err)
		}
	}
	for _, c := range [][2]string{
		{"http://127.0.0.1:8080", "https://modelslab.com"},
		{"http://modelslab.com", "https://modelslab.com"},
		{"https://modelslab.com.evil.example", "https://modelslab.com"},
		{"https://modelslab.com:8443", "https://modelslab.com"},
	} {
		if _, err := runner.ResumeBase(c[0], c[1]); !errors.As(err, &other) {
			t.Errorf("ResumeBase(%q, %q): %v, want an OtherAPIError", c[0], c[1], err)
		}
	}
}

// TestCheckOutputDir: what cannot receive files is refused before any
// submit; a directory to be made is fine and is not made yet.
func TestCheckOutputDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{file, filepath.Join(file, "sub", "deeper"), ""} {
		if err := runner.CheckOutputDir(bad); err == nil {
			t.Errorf("CheckOutputDir(%q) accepted it", bad)
		}
	}
	fresh := filepath.Join(dir, "new", "dir")
	if err := runner.CheckOutputDir(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check made a directory: %v", err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("the check left files: %v", names)
	}
	if os.Geteuid() == 0 {
		return // root writes anywhere
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := runner.CheckOutputDir(filepath.Join(ro, "out")); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("read-only parent: %v", err)
	}
}

// TestDeadlineBoundsEveryPhase: each phase that could hang ends at the
// deadline, exactly, with the error that says what became of the job.
func TestDeadlineBoundsEveryPhase(t *testing.T) {
	const limit = 5 * time.Second
	blockingDownload := func(ctx context.Context, urls []string, _ string, _ runner.DownloadOptions) ([]string, error) {
		<-ctx.Done()
		return make([]string, len(urls)), ctx.Err()
	}
	cases := []struct {
		name  string
		opts  sandbox.Options
		check func(t *testing.T, o *runner.Outcome, err error, jr *journal.Journal)
	}{
		{"a submit that never answers", sandbox.Options{Delay: time.Hour, SubmitDelay: time.Hour},
			func(t *testing.T, o *runner.Outcome, err error, jr *journal.Journal) {
				var unknown *runner.SubmitUnknownError
				if o != nil || !errors.As(err, &unknown) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("outcome %+v, err %v", o, err)
				}
				if entries, _ := jr.List(journal.Filter{}); len(entries) != 1 || entries[0].Status != journal.StatusSubmitting {
					t.Errorf("journal %+v", entries)
				}
			}},
		{"429 with retry_after 600", sandbox.Options{RateLimit: 1000, RetryAfter: 600 * time.Second},
			func(t *testing.T, o *runner.Outcome, err error, jr *journal.Journal) {
				if o != nil || !api.IsKind(err, api.KindRateLimited) {
					t.Fatalf("outcome %+v, err %v", o, err)
				}
				if entries, _ := jr.List(journal.Filter{}); len(entries) != 0 {
					t.Errorf("journal %+v: nothing was submitted", entries)
				}
			}},
		{"a job that never ends", sandbox.Options{Delay: time.Hour},
			func(t *testing.T, o *runner.Outcome, err error, jr *journal.Journal) {
				if o == nil || o.ID == "" || !errors.Is(err, runner.ErrTimeout) {
					t.Fatalf("outcome %+v, err %v", o, err)
				}
			}},
		{"a download that never ends", sandbox.Options{Delay: time.Second},
			func(t *testing.T, o *runner.Outcome, err error, jr *journal.Journal) {
				var stopped *runner.StoppedError
				if o == nil || o.Status != runner.StatusSuccess || !errors.As(err, &stopped) || !stopped.Downloading || !errors.Is(err, runner.ErrTimeout) {
					t.Fatalf("outcome %+v, err %v", o, err)
				}
				if e := entry(t, jr, o.ID); e.Status != journal.StatusSuccess {
					t.Errorf("journal %+v: the job succeeded", e)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, client := memAPI(t, c.opts)
				jr := openJournal(t)
				r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, OutputDir: t.TempDir(), Download: blockingDownload})
				ctx, cancel := context.WithTimeout(context.Background(), limit)
				defer cancel()
				start := time.Now()
				o, err := r.Run(ctx, newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
				if took := time.Since(start); took != limit {
					t.Errorf("ended after %s, want the deadline (%s)", took, limit)
				}
				c.check(t, o, err, jr)
			})
		})
	}
}

// TestBatchSharesTheDeadline: against a wall of 429s with retry_after past
// the deadline, every job of a batch ends at that one deadline.
func TestBatchSharesTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{RateLimit: 1000, RetryAfter: 30 * time.Second})
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: openJournal(t), Wait: true, QueueRetry: true, BatchID: "b-1"})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
		defer cancel()
		start := time.Now()
		tot, errs := r.Batch(ctx, batchJobs(t, 6), 2, &recorder{})
		if took := time.Since(start); took != 100*time.Second {
			t.Errorf("batch ended after %s, want the deadline", took)
		}
		if tot.Errors == 0 || len(errs) != tot.Errors || !api.IsKind(errs[0], api.KindRateLimited) || tot.Succeeded != 0 {
			t.Fatalf("totals %+v, errors %v", tot, errs)
		}
		if tot.Started+len(tot.NotStartedLines) != 6 {
			t.Errorf("totals %+v: every line started or listed as never submitted", tot)
		}
	})
}

// TestBatchGivesUpOnUnreachableAPI: a batch stops starting jobs once a
// submit finds the API unreachable (after the client's retries), as a
// single job would give up, instead of trying every line.
func TestBatchGivesUpOnUnreachableAPI(t *testing.T) {
	base := closedBase(t)
	noSleep := api.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
	r := runner.New(runner.Options{Client: api.New(base, "test-key", noSleep), BaseURL: base, Journal: openJournal(t), Wait: true, QueueRetry: true, BatchID: "b-2"})
	tot, errs := r.Batch(context.Background(), batchJobs(t, 20), 2, &recorder{})
	if !tot.Unreachable || tot.Started > 4 || len(tot.NotStartedLines) != 20-tot.Started || tot.Errors != tot.Started || !api.IsKind(errs[0], api.KindNetwork) {
		t.Fatalf("totals %+v, errors %v", tot, errs)
	}
}
