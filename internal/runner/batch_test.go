package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

func batchJobs(t *testing.T, n int) []*runner.Job {
	t.Helper()
	jobs := make([]*runner.Job, n)
	for i := range jobs {
		jobs[i] = newJob(t, "text2img", map[string]any{"prompt": fmt.Sprintf("p%d", i+1), "model_id": "flux"})
		jobs[i].Line = i + 1
	}
	return jobs
}

// TestBatchRateLimitBurst runs a batch into bursts of 429s: the batch's
// retry policy slows it down and every job succeeds, each outcome streamed
// with its batch id and line.
func TestBatchRateLimitBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 2 * time.Second, RateLimitBurst: 3, RateLimitEvery: 2, RetryAfter: time.Second})
		jr, obs := openJournal(t), &recorder{}
		r := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, Timeout: time.Minute, BatchID: "b-000000000001", QueueRetry: true})
		jobs := batchJobs(t, 8)
		if err := r.SavePlan(jobs); err != nil {
			t.Fatal(err)
		}
		tot, errs := r.Batch(context.Background(), jobs, 4, obs)
		if len(errs) != 0 {
			t.Fatalf("errors: %v", errs)
		}
		if tot.Jobs != 8 || tot.Started != 8 || tot.Succeeded != 8 || tot.InFlight != 0 || tot.Ended() != 8 || tot.Elapsed <= 2*time.Second {
			t.Fatalf("totals %+v", tot)
		}
		if st := sb.Stats(); st.RateLimited < 3 || st.Jobs != 8 {
			t.Errorf("sandbox stats %+v: want 429 bursts and 8 jobs", st)
		}
		if obs.overlap {
			t.Error("Finished calls overlapped")
		}
		lines := map[int]bool{}
		for _, o := range obs.finished {
			if o == nil || o.BatchID != "b-000000000001" || o.Status != runner.StatusSuccess {
				t.Fatalf("outcome %+v", o)
			}
			lines[o.Line] = true
		}
		if len(lines) != 8 {
			t.Errorf("lines %v", lines)
		}
		inFlight := 0
		for _, tt := range obs.totals {
			inFlight = max(inFlight, tt.InFlight)
		}
		if inFlight == 0 || inFlight > 4 || obs.totals[len(obs.totals)-1].Succeeded != 8 {
			t.Errorf("running totals: in flight at most %d, last %+v", inFlight, obs.totals[len(obs.totals)-1])
		}
		entries, err := jr.List(journal.Filter{BatchID: "b-000000000001"})
		if err != nil || len(entries) != 8 {
			t.Fatalf("journal: %d entries, %v", len(entries), err)
		}
		if plan, err := jr.LoadPlan("b-000000000001"); err != nil || len(plan.Lines) != 8 || plan.Endpoint != "text2img" {
			t.Fatalf("plan %+v, %v", plan, err)
		}
	})
}

// TestBatchCountsEveryEnd mixes a job the API refuses with good ones, and
// then interrupts a batch: nothing more is started.
func TestBatchCountsEveryEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, client := memAPI(t, sandbox.Options{Delay: time.Second})
		r := runner.New(runner.Options{Client: client, Wait: true, Timeout: time.Minute, BatchID: "b-1"})
		jobs := batchJobs(t, 3)
		delete(jobs[1].Body, "prompt") // refused: prompt is required
		obs := &recorder{}
		tot, errs := r.Batch(context.Background(), jobs, 2, obs)
		var ae *api.Error
		if tot.Succeeded != 2 || tot.Errors != 1 || len(errs) != 1 || !errors.As(errs[0], &ae) {
			t.Fatalf("totals %+v, errors %v", tot, errs)
		}
		nilOutcomes := 0
		for _, o := range obs.finished {
			if o == nil {
				nilOutcomes++
			}
		}
		if nilOutcomes != 1 {
			t.Errorf("%d nil outcomes, want 1 for the refused job", nilOutcomes)
		}

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		obs = &recorder{onSubmit: func(*runner.Job) { cancel() }}
		tot, errs = r.Batch(ctx, batchJobs(t, 5), 1, obs)
		if tot.Started != 1 || tot.Unfinished != 1 || tot.TimedOut != 0 || len(errs) != 0 {
			t.Fatalf("interrupted batch: totals %+v, errors %v", tot, errs)
		}

		noWait := runner.New(runner.Options{Client: client, BatchID: "b-2"})
		if tot, _ = noWait.Batch(context.Background(), batchJobs(t, 2), 5, &recorder{}); tot.Submitted != 2 {
			t.Fatalf("submit-only batch: totals %+v", tot)
		}
	})
}

// TestResumeJournalledJob stops waiting for a job (timeout), then resumes
// it from its journal entry the way mlab wait does: polling to its end.
func TestResumeJournalledJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 5 * time.Second})
		jr := openJournal(t)
		first := runner.New(runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, Timeout: time.Second})
		o, err := first.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if !errors.Is(err, runner.ErrTimeout) {
			t.Fatalf("first run: %v", err)
		}
		e := entry(t, jr, o.TrackID)

		dl, obs := &downloads{}, &recorder{}
		out := t.TempDir()
		r := runner.New(runner.Options{Client: client, BaseURL: e.BaseURL, Journal: jr, Wait: true, Timeout: time.Minute,
			PollInterval: 500 * time.Millisecond, OutputDir: out, Download: dl.fn})
		ep := mustEndpoint(t, e.Endpoint)
		o, err = r.Run(context.Background(), runner.Resumed(ep, *e), obs)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != runner.StatusSuccess || o.ID != e.ID || o.TrackID != e.TrackID || len(o.Files) != 1 {
			t.Fatalf("resumed outcome %+v", o)
		}
		if done, _ := sb.DoneAt(o.ID); time.Now().Before(done) {
			t.Errorf("resumed before the job was done")
		}
		if len(obs.submitted) != 1 || obs.submitted[0] != e.ID+" ; polling for the result" || len(obs.finished) != 1 {
			t.Errorf("events: %q", obs.submitted)
		}
		e = entry(t, jr, o.TrackID)
		if e.Status != journal.StatusSuccess || e.Via != "poll" || len(e.Files) != 1 {
			t.Fatalf("journal %+v", e)
		}

		// A finished job is not fetched again: only a missing file is
		// downloaded again.
		fetches := sb.Stats().Fetches
		if err := os.Remove(e.Files[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background(), runner.Resumed(ep, *e), obs); err != nil {
			t.Fatal(err)
		}
		if sb.Stats().Fetches != fetches || len(dl.calls) != 2 {
			t.Errorf("redownload: %d fetches (want %d), %d downloads", sb.Stats().Fetches, fetches, len(dl.calls))
		}
		if texts := obs.noticeTexts(); len(texts) != 1 || texts[0] != "downloaded 1 missing file(s) of job "+e.ID {
			t.Errorf("notices %q", texts)
		}
		if _, err := r.Run(context.Background(), runner.Resumed(ep, *e), obs); err != nil || len(dl.calls) != 2 {
			t.Errorf("files in place: %v, %d downloads", err, len(dl.calls))
		}

		// A failed one ends at once with its journalled reason.
		e.Status, e.Message = journal.StatusFailed, "out of credits"
		_, err = r.Run(context.Background(), runner.Resumed(ep, *e), obs)
		var failed *runner.FailedError
		if !errors.As(err, &failed) || failed.Response.Message != "out of credits" || sb.Stats().Fetches != fetches {
			t.Fatalf("failed entry: %v", err)
		}
	})
}

// TestFetch asks once, as mlab fetch does: processing with its stage, then
// success, journalled.
func TestFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 5 * time.Second})
		jr := openJournal(t)
		r := runner.New(runner.Options{Client: client, Journal: jr})
		o, err := r.Run(context.Background(), newJob(t, "text2img", map[string]any{"prompt": "x"}), &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		e := entry(t, jr, o.ID)
		j := runner.Resumed(mustEndpoint(t, e.Endpoint), *e)
		if o, err = r.Fetch(context.Background(), j, &recorder{}); err != nil || o.Status != runner.StatusProcessing || o.Stage != "processing" {
			t.Fatalf("fetch while processing: %+v, %v", o, err)
		}
		time.Sleep(5 * time.Second)
		if o, err = r.Fetch(context.Background(), j, &recorder{}); err != nil || o.Status != runner.StatusSuccess || o.Via != "poll" || len(o.Output) == 0 {
			t.Fatalf("fetch when done: %+v, %v", o, err)
		}
		if e := entry(t, jr, o.ID); e.Status != journal.StatusSuccess || sb.Stats().Fetches != 2 {
			t.Errorf("journal %+v, %d fetches", e, sb.Stats().Fetches)
		}
	})
}

// TestBatchResume is mlab wait --batch after a batch stopped halfway: the
// unfinished jobs are waited for, the plan lines never submitted are
// submitted, and a job finished in between is left alone.
func TestBatchResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sb, client := memAPI(t, sandbox.Options{Delay: 3 * time.Second})
		jr := openJournal(t)
		const id = "b-0a0b0c0d0e0f"
		opts := runner.Options{Client: client, BaseURL: memBase, Journal: jr, Wait: true, Timeout: time.Second, BatchID: id, QueueRetry: true}
		jobs := batchJobs(t, 5)
		r := runner.New(opts)
		if err := r.SavePlan(jobs); err != nil {
			t.Fatal(err)
		}
		// Only three lines were started before the run was stopped.
		tot, _ := r.Batch(context.Background(), jobs[:3], 3, &recorder{})
		if tot.Unfinished != 3 || tot.TimedOut != 3 {
			t.Fatalf("first run: %+v", tot)
		}
		// One is finished by hand (mlab wait ID).
		byHand := entry(t, jr, jobs[0].ID)
		opts.Timeout = time.Minute
		r = runner.New(opts)
		if _, err := r.Run(context.Background(), runner.Resumed(mustEndpoint(t, "text2img"), *byHand), &recorder{}); err != nil {
			t.Fatal(err)
		}

		st, err := runner.LoadBatch(jr, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Journalled != 3 || len(st.Unfinished) != 2 || len(st.Unsubmitted) != 2 || st.Plan == nil || st.BaseURL != memBase {
			t.Fatalf("batch state %+v", st)
		}
		var resume []*runner.Job
		for _, e := range st.Unfinished {
			resume = append(resume, runner.Resumed(mustEndpoint(t, e.Endpoint), e))
		}
		for _, l := range st.Unsubmitted {
			resume = append(resume, &runner.Job{Endpoint: mustEndpoint(t, st.Plan.Endpoint), Body: l.Body, Line: l.Line})
		}
		obs := &recorder{}
		tot, errs := r.Batch(context.Background(), resume, 8, obs)
		if tot.Succeeded != 4 || len(errs) != 0 {
			t.Fatalf("resume: totals %+v, errors %v", tot, errs)
		}
		for _, o := range obs.finished {
			if o.ID == byHand.ID || o.BatchID != id {
				t.Errorf("outcome %+v", o)
			}
		}
		entries, err := jr.List(journal.Filter{BatchID: id})
		if err != nil || len(entries) != 5 {
			t.Fatalf("journal: %d entries, %v", len(entries), err)
		}
		for _, e := range entries {
			if e.Status != journal.StatusSuccess {
				t.Errorf("line %d: %s", e.Line, e.Status)
			}
		}
		if st := sb.Stats(); st.Jobs != 5 {
			t.Errorf("%d jobs submitted, want 5 (none twice)", st.Jobs)
		}
		if st, _ := runner.LoadBatch(jr, id); len(st.Unfinished)+len(st.Unsubmitted) != 0 {
			t.Errorf("left to do after the resume: %+v", st)
		}
	})
}
