package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

// DefaultConcurrency is the ModelsLab pay-as-you-go queue limit.
const DefaultConcurrency = 5

// batchLine is one job of a --batch input.
type batchLine struct {
	n      int            // 1-based input line number
	fields map[string]any // request fields from the line
}

// readBatch reads --batch input: one prompt per line, or JSON objects of
// request fields. Blank lines and lines starting with # are skipped.
func readBatch(name string, stdin io.Reader, argField string) ([]batchLine, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, flagErrorf("--batch: %v", unwrapPathError(err))
		}
		defer f.Close()
		r = f
	}
	var lines []batchLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "{") {
			dec := json.NewDecoder(strings.NewReader(text))
			dec.UseNumber()
			var fields map[string]any
			if err := dec.Decode(&fields); err != nil {
				return nil, flagErrorf("--batch line %d: not a JSON object: %v", n, err)
			}
			lines = append(lines, batchLine{n: n, fields: fields})
			continue
		}
		if argField == "" {
			return nil, flagErrorf("--batch line %d: this command takes JSON lines of request fields, not plain text", n)
		}
		lines = append(lines, batchLine{n: n, fields: map[string]any{argField: text}})
	}
	if err := sc.Err(); err != nil {
		return nil, flagErrorf("--batch: %v", err)
	}
	if len(lines) == 0 {
		return nil, flagErrorf("--batch %s has no jobs (one prompt or JSON object per line)", name)
	}
	return lines, nil
}

// runBatch runs every line of --batch as its own job, each line's fields
// merged over tmpl's body, through one runner (one tunnel and listener, a
// token per job), at most --concurrency in flight, printing each result as
// it ends.
func runBatch(ctx context.Context, f *Factory, o *JobOptions, tmpl *runner.Job, argField string) error {
	lines, err := readBatch(o.Batch, f.IO.In, argField)
	if err != nil {
		return err
	}
	// Check every line before the first submit: a bad line 900 must not
	// surface after 899 paid jobs.
	jobs := make([]*runner.Job, len(lines))
	for i, l := range lines {
		body := maps.Clone(tmpl.Body)
		maps.Copy(body, l.fields)
		inputs, err := prepareBody(tmpl.Endpoint, body)
		if err != nil {
			return flagErrorf("--batch line %d: %v", l.n, err)
		}
		jobs[i] = &runner.Job{Endpoint: tmpl.Endpoint, PathParams: tmpl.PathParams, Body: body, Inputs: inputs, Line: l.n}
	}
	batchID := ids.BatchID()
	r, closeRunner, err := openRunner(ctx, f, o, batchID)
	if err != nil {
		return err
	}
	defer closeRunner()
	if err := r.SavePlan(jobs); err != nil {
		f.IO.Warnf("could not save the batch plan (%v): 'mlab wait --batch' can resume submitted jobs only", err)
	}
	f.IO.Infof("batch %s: %d jobs, %d at a time%s", batchID, len(jobs), o.Concurrency, r.WaitingFor())
	return runBatchJobs(ctx, f, o, r, batchID, jobs)
}

// runBatchJobs runs the jobs of a batch, streams each result as it ends,
// prints the summary and returns the batch's exit status.
func runBatchJobs(ctx context.Context, f *Factory, o *JobOptions, r *runner.Runner, batchID string, jobs []*runner.Job) error {
	ui := newBatchUI(f, batchID, len(jobs), o.JSON)
	defer ui.stop()
	t, errs := r.Batch(ctx, jobs, o.Concurrency, ui)
	ui.stop()

	summary := fmt.Sprintf("batch %s: %d succeeded, %d failed", batchID, t.Succeeded, t.Failed)
	if t.Submitted > 0 {
		summary = fmt.Sprintf("batch %s: %d submitted", batchID, t.Submitted)
	}
	if t.Unfinished > 0 {
		summary += fmt.Sprintf(", %d still running", t.Unfinished)
	}
	if t.Errors > 0 {
		summary += fmt.Sprintf(", %d errors", t.Errors)
	}
	if notStarted := t.Jobs - t.Started; notStarted > 0 {
		summary += fmt.Sprintf(", %d not submitted", notStarted)
	}
	f.IO.Infof("%s in %s", summary, output.FormatDuration(t.Elapsed))
	if t.Unfinished > 0 && r.Journaled() {
		f.IO.Infof("resume the running ones with: mlab wait --batch %s%s", batchID, resumeFlags(o.OutputDir, o.JSON))
	}
	switch {
	case ctx.Err() != nil:
		return quietExit(ExitInterrupted, ctx.Err())
	case t.TimedOut > 0:
		return quietExit(ExitTimeout, runner.ErrTimeout)
	case t.Errors > 0:
		code := ExitFailed
		for _, err := range errs {
			code = max(code, exitCodeFor(usageOf(err)))
		}
		return quietExit(code, errors.New("some jobs could not be run"))
	case t.Failed > 0:
		return quietExit(ExitFailed, errors.New("some jobs failed"))
	}
	return nil
}

// resumeBatch finishes a batch: it waits for the journalled jobs that are
// still running and submits the lines of the batch plan that a killed run
// never got to. Finished jobs are left alone.
func resumeBatch(ctx context.Context, o *WaitOptions) error {
	f := o.f
	jr, err := openHistoryJournal(f)
	if err != nil {
		return err
	}
	defer jr.Close()
	st, err := runner.LoadBatch(jr, o.Batch)
	if err != nil {
		return err
	}
	if st.Journalled == 0 && st.Plan == nil {
		return flagErrorf("no jobs of batch %s in the journal (see 'mlab jobs --json')", o.Batch)
	}
	jobs, err := batchResumeJobs(o.Batch, st)
	if err != nil {
		return err
	}
	f.IO.Infof("batch %s: %d jobs journalled, %d unfinished, %d never submitted", o.Batch, st.Journalled, len(st.Unfinished), len(st.Unsubmitted))
	if len(jobs) == 0 {
		return nil
	}
	jo := &JobOptions{Wait: true, OutputDir: o.OutputDir, JSON: o.JSON, Timeout: o.Timeout, PollInterval: o.PollInterval,
		Batch: o.Batch, Concurrency: o.Concurrency, TunnelWait: 15 * time.Second}
	var r *runner.Runner
	if len(st.Unsubmitted) > 0 {
		// New submits need the whole receiver (webhook + poll).
		var closeRunner func()
		if r, closeRunner, err = openRunner(ctx, f, jo, o.Batch); err != nil {
			return err
		}
		defer closeRunner()
	} else if r, err = resumeRunner(f, jo, st.BaseURL, jr, o.Batch); err != nil {
		return err
	}
	return runBatchJobs(ctx, f, jo, r, o.Batch, jobs)
}

// batchResumeJobs lists what a batch resume runs: its unfinished journalled
// jobs first, then the plan lines never submitted (checked like new ones).
func batchResumeJobs(batchID string, st *runner.BatchState) ([]*runner.Job, error) {
	var jobs []*runner.Job
	for _, e := range st.Unfinished {
		ep, err := journalEndpoint(e.ID, e.Endpoint, e.PathParams)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, runner.Resumed(ep, e))
	}
	if st.Plan == nil {
		return jobs, nil
	}
	ep, ok := api.Lookup(st.Plan.Endpoint)
	if !ok {
		return nil, flagErrorf("batch %s used endpoint %q, which this mlab does not know", batchID, st.Plan.Endpoint)
	}
	ep = ep.WithPathParams(st.Plan.PathParams)
	for _, l := range st.Unsubmitted {
		inputs, err := prepareBody(ep, l.Body)
		if err != nil {
			return nil, flagErrorf("batch %s line %d: %v", batchID, l.Line, err)
		}
		jobs = append(jobs, &runner.Job{Endpoint: ep, PathParams: st.Plan.PathParams, Body: l.Body, Inputs: inputs, Line: l.Line})
	}
	return jobs, nil
}
