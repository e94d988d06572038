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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/journal"
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
// request fields. Blank lines and lines starting with # are skipped. Every
// bad line is reported at once, with its number.
func readBatch(name string, stdin io.Reader, argField string) ([]batchLine, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, flagErrorf("--batch %s: %v", name, unwrapPathError(err))
		}
		defer f.Close()
		r = f
	}
	var lines []batchLine
	bad := &batchProblems{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields, err := batchFields(text, argField)
		if err != nil {
			bad.add(n, err)
			continue
		}
		lines = append(lines, batchLine{n: n, fields: fields})
	}
	if err := sc.Err(); err != nil {
		return nil, flagErrorf("--batch %s: %v", name, err)
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, flagErrorf("--batch %s has no jobs (one prompt or JSON object per line)", name)
	}
	return lines, nil
}

// batchFields are the request fields of one --batch line: a JSON object,
// or a plain prompt for argField. JSON that is not an object, and a prompt
// that is not text, are refused.
func batchFields(text, argField string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	isJSON := dec.Decode(&v) == nil && !dec.More()
	fields, isObject := v.(map[string]any)
	switch {
	case strings.HasPrefix(text, "{") && !isObject:
		return nil, errors.New("not a JSON object (one per line, e.g. {\"prompt\": \"...\"})")
	case isJSON && (strings.HasPrefix(text, "[") || strings.HasPrefix(text, "\"")):
		return nil, fmt.Errorf("a JSON %s, not an object of request fields", map[bool]string{true: "array", false: "string"}[strings.HasPrefix(text, "[")])
	case isObject:
		if p, ok := fields[argField]; ok && argField != "" {
			if _, isText := p.(string); !isText {
				b, _ := json.Marshal(p)
				return nil, fmt.Errorf("%q must be text, not %s", argField, b)
			}
		}
		return fields, nil
	case argField == "":
		return nil, errors.New("this command takes JSON lines of request fields, not plain text")
	}
	return map[string]any{argField: text}, nil
}

// batchProblems gathers the bad lines of a --batch input, so that all of
// them are reported at once (the first 20 shown).
type batchProblems struct {
	name  string
	shown []string
	n     int
}

func (p *batchProblems) add(line int, err error) {
	if p.n++; len(p.shown) < 20 {
		p.shown = append(p.shown, fmt.Sprintf("line %d: %v", line, err))
	}
}

// err is the usage error that lists the bad lines, nil when none is.
func (p *batchProblems) err() error {
	if p.n == 0 {
		return nil
	}
	if p.n == 1 {
		return flagErrorf("--batch %s %s; nothing was submitted", p.name, p.shown[0])
	}
	msg := fmt.Sprintf("--batch %s: %s; nothing was submitted:\n  %s", p.name, output.Plural(p.n, "bad line", "bad lines"), strings.Join(p.shown, "\n  "))
	if p.n > len(p.shown) {
		msg += fmt.Sprintf("\n  and %d more", p.n-len(p.shown))
	}
	return &FlagError{Err: errors.New(msg)}
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
	jobs, err := batchJobs(o, tmpl, lines)
	if err != nil {
		return err
	}
	batchID := ids.BatchID()
	r, closeRunner, err := openRunner(ctx, f, o, batchID)
	if err != nil {
		return submitFailure(err) // the deadline may come while the receiver opens
	}
	defer closeRunner()
	if err := r.SavePlan(jobs); err != nil {
		f.IO.Warnf("could not save the batch plan (%v): 'mlab wait --batch' can resume submitted jobs only", err)
	}
	f.IO.Infof("batch %s: %d jobs, %d at a time%s", batchID, len(jobs), o.Concurrency, r.WaitingFor())
	err = runBatchJobs(ctx, f, o, r, batchID, jobs)
	if !o.Wait && o.Sandbox {
		f.IO.Warnf("the jobs ran in the in-process sandbox, which ends with this command: they cannot be waited for or fetched later (for one that stays up: mlab sandbox)")
	}
	return err
}

// batchJobs checks every line before the first submit (a bad line 900
// must not surface after 899 paid jobs) and reports all the bad ones at
// once; it returns the jobs of the lines.
func batchJobs(o *JobOptions, tmpl *runner.Job, lines []batchLine) ([]*runner.Job, error) {
	jobs := make([]*runner.Job, len(lines))
	bad := &batchProblems{name: o.Batch}
	for i, l := range lines {
		body := maps.Clone(tmpl.Body)
		maps.Copy(body, l.fields)
		ep := tmpl.Endpoint
		if model, ok := l.fields["model_id"].(string); ok && o.lineEndpoint != nil {
			var err error
			if ep, err = o.lineEndpoint(model); err != nil {
				bad.add(l.n, err)
				continue
			}
		}
		inputs, err := prepareBody(ep, body)
		if err != nil {
			bad.add(l.n, err)
			continue
		}
		jobs[i] = &runner.Job{Endpoint: ep, PathParams: tmpl.PathParams, Body: body, Inputs: inputs, Line: l.n}
	}
	return jobs, bad.err()
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
	for _, c := range []struct {
		n    int
		what string
	}{{t.Unfinished, "still running"}, {t.Unknown, "unknown (submitted, never answered)"}, {t.Errors, "errors"}, {t.Jobs - t.Started, "not submitted"}} {
		if c.n > 0 {
			summary += fmt.Sprintf(", %d %s", c.n, c.what)
		}
	}
	f.IO.Infof("%s in %s", summary, output.FormatDuration(t.Elapsed))
	if t.Unreachable {
		f.IO.Warnf("the API could not be reached: no further job was submitted")
	}
	if hint := batchResumeHint(batchID, t, o); hint != "" && r.Journaled() {
		f.IO.Infof("%s", hint)
	}
	return batchExit(ctx, t, errs)
}

// batchResumeHint names what a stopped batch left (the jobs still
// running, the lines never submitted, the submits never answered) and the
// command that resumes it.
func batchResumeHint(batchID string, t runner.Totals, o *JobOptions) string {
	var left []string
	if len(t.RunningIDs) > 0 {
		left = append(left, "still running: "+listOf(t.RunningIDs))
	}
	if len(t.NotStartedLines) > 0 {
		lines := make([]string, len(t.NotStartedLines))
		for i, l := range t.NotStartedLines {
			lines[i] = strconv.Itoa(l)
		}
		left = append(left, "never submitted: "+output.Plural(len(lines), "line", "lines")+" "+listOf(lines))
	}
	if len(t.UnknownTrackIDs) > 0 {
		left = append(left, "submitted but never answered (they may have been paid for): track_id "+listOf(t.UnknownTrackIDs))
	}
	if len(left) == 0 {
		return ""
	}
	todo := "resume the running ones"
	switch {
	case len(t.NotStartedLines) > 0 && len(t.RunningIDs) > 0:
		todo += " and submit the lines never submitted"
	case len(t.NotStartedLines) > 0:
		todo = "submit the lines never submitted"
	case len(t.RunningIDs) == 0:
		todo = "see what became of them"
	}
	return strings.Join(left, "; ") + "\n" + todo + " with: mlab wait --batch " + batchID + resumeFlags(o.OutputDir, o.JSON)
}

// listOf shows at most ten items (API ids made terminal-safe).
func listOf(items []string) string {
	const most = 10
	shown := make([]string, 0, most)
	for _, it := range items[:min(len(items), most)] {
		shown = append(shown, output.Safe(it))
	}
	s := strings.Join(shown, ", ")
	if len(items) > most {
		s += fmt.Sprintf(" and %d more", len(items)-most)
	}
	return s
}

// batchExit is a batch's exit status: interrupted, timed out (jobs go
// on), errors (the worst code), failed jobs, or submits never answered.
func batchExit(ctx context.Context, t runner.Totals, errs []error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return quietExit(ExitInterrupted, ctx.Err())
	case t.TimedOut > 0:
		return quietExit(ExitTimeout, runner.ErrTimeout)
	case t.Errors > 0:
		code := ExitFailed
		for _, err := range errs {
			code = max(code, exitCodeFor(submitFailure(usageOf(err))))
		}
		return quietExit(code, errors.New("some jobs could not be run"))
	case t.Unknown > 0:
		return quietExit(ExitAPI, errors.New("some submits were never answered"))
	case t.Failed > 0:
		return quietExit(ExitFailed, errors.New("some jobs failed"))
	}
	return nil
}

// resumeBatch finishes a batch on the API the batch went to, polling (no
// webhook receiver, no tunnel; a relayed batch also reads the webhooks its
// relay stored): it waits for the journalled jobs
// that are still running and submits the lines of the batch plan that a
// killed run never sent. Finished jobs are left alone; a line whose submit
// was sent and never answered is reported, and submitted again only with
// --resubmit-unknown.
func resumeBatch(ctx context.Context, o *WaitOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
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
	if st.Journalled == 0 && st.Plan == nil && len(st.Unknown) == 0 {
		return flagErrorf("no jobs of batch %s in the journal (see 'mlab jobs --json')", o.Batch)
	}
	jobs, err := batchResumeJobs(o.Batch, st, o.ResubmitUnknown)
	if err != nil {
		return err
	}
	unknown := ""
	if len(st.Unknown) > 0 {
		unknown = fmt.Sprintf(", %d unknown", len(st.Unknown))
	}
	f.IO.Infof("batch %s: %d jobs journalled, %d unfinished, %d never submitted%s", o.Batch, st.Journalled, len(st.Unfinished), len(st.Unsubmitted), unknown)
	reportUnknown(f, o, st)
	if len(jobs) == 0 {
		return batchExit(ctx, runner.Totals{Unknown: len(st.Unknown)}, nil)
	}
	jo := o.jobOptions()
	jo.started = time.Time{}       // each job's time counts from its own start
	for i := range st.Unfinished { // a relayed batch reads its stored webhooks (one try)
		if e := &st.Unfinished[i]; e.RelayToken != "" {
			jo.relay, err = o.relayFor(ctx, e)
			break
		}
	}
	if err != nil {
		return err
	} else if jo.relay != nil {
		defer jo.relay.Close()
	}
	r, err := resumeRunner(f, jo, st.BaseURL, false, jr, o.Batch)
	if err != nil {
		return err
	}
	if n := len(jobs) - len(st.Unfinished); n > 0 && (jo.relay == nil || !jo.relay.live) {
		f.IO.Infof("submitting %s not submitted before (polling only: no webhook)", output.Plural(n, "line", "lines"))
	} else if n > 0 {
		f.IO.Infof("submitting %s not submitted before (webhooks through the relay)", output.Plural(n, "line", "lines"))
	}
	err = runBatchJobs(ctx, f, jo, r, o.Batch, jobs)
	if err == nil && len(st.Unknown) > 0 && !o.ResubmitUnknown {
		return batchExit(ctx, runner.Totals{Unknown: len(st.Unknown)}, nil)
	}
	return err
}

// reportUnknown says, for each line whose submit was sent and never
// answered, that it may have been submitted (a JSON object with status
// "unknown" each, with --json), and what --resubmit-unknown would do.
func reportUnknown(f *Factory, o *WaitOptions, st *runner.BatchState) {
	for _, e := range st.Unknown {
		what := "not submitted again (--resubmit-unknown submits it anyway)"
		if o.ResubmitUnknown {
			what = "submitting it again, as --resubmit-unknown asks"
		}
		f.IO.Warnf("line %d: unknown: may have been submitted (track_id %s); %s", e.Line, output.Safe(e.TrackID), what)
		if o.JSON && !o.ResubmitUnknown {
			f.printResult(&output.Result{TrackID: e.TrackID, Endpoint: e.Endpoint, Status: "unknown",
				Message: "may have been submitted: its submit was sent and never answered", BatchID: e.BatchID, Line: e.Line}, true, "")
		}
	}
}

// batchResumeJobs lists what a batch resume runs: its unfinished journalled
// jobs first, then the plan lines never submitted (checked like new ones,
// with the track_ids the plan gave them) and, with resubmit, the lines
// whose submit was never answered.
func batchResumeJobs(batchID string, st *runner.BatchState, resubmit bool) ([]*runner.Job, error) {
	var jobs []*runner.Job
	for _, e := range st.Unfinished {
		ep, err := journalEndpoint(e.ID, e.Endpoint, e.PathParams)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, runner.Resumed(ep, e))
	}
	if st.Plan == nil {
		if resubmit && len(st.Unknown) > 0 {
			return nil, flagErrorf("batch %s has no saved plan: its unanswered lines cannot be submitted again", batchID)
		}
		return jobs, nil
	}
	ep, ok := api.Lookup(st.Plan.Endpoint)
	if !ok {
		return nil, flagErrorf("batch %s used endpoint %q, which this mlab does not know", batchID, st.Plan.Endpoint)
	}
	ep = ep.WithPathParams(st.Plan.PathParams)
	lines := slices.Clone(st.Unsubmitted)
	redo := map[int]*journal.Entry{} // by line: the unknown submit a line's job replaces
	if resubmit {
		for i, e := range st.Unknown {
			redo[e.Line] = &st.Unknown[i]
		}
		for _, l := range st.Plan.Lines {
			if redo[l.Line] != nil {
				lines = append(lines, l)
			}
		}
	}
	for _, l := range lines {
		inputs, err := prepareBody(ep, l.Body)
		if err != nil {
			return nil, flagErrorf("batch %s line %d: %v", batchID, l.Line, err)
		}
		jobs = append(jobs, &runner.Job{Endpoint: ep, PathParams: st.Plan.PathParams, Body: l.Body, Inputs: inputs,
			Line: l.Line, TrackID: l.TrackID, Resubmit: redo[l.Line]})
	}
	return jobs, nil
}
