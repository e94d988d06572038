package runner

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
)

// resume picks up a journalled job (see Run).
func (r *Runner) resume(ctx context.Context, j *Job, obs Observer, progress bool) (*Outcome, error) {
	e := j.Entry
	if e.ID == "" {
		return nil, &SubmitUnknownError{Endpoint: e.Endpoint, TrackID: e.TrackID, Journaled: true, Err: ErrNoAnswer}
	}
	o := &Outcome{
		ID: j.ID, TrackID: j.TrackID, Endpoint: j.Endpoint.Name, Status: Status(e.Status),
		Output: e.Output, Files: e.Files, Via: job.Via(e.Via), Message: e.Message,
	}
	switch o.Status {
	case StatusSuccess:
		err := r.redownload(ctx, j, o, obs, progress)
		r.recordEnd(j, o, obs)
		return o, err
	case StatusFailed:
		return o, &FailedError{ID: j.ID, Response: &api.Response{Message: e.Message}}
	}
	start := r.o.Now()
	events, done := r.resumeRelay(ctx, j, obs)
	waitingFor := "; polling for the result"
	if events != nil {
		waitingFor = "; reading its webhook from the relay and polling as a fallback"
	}
	obs.Submitted(j, 0, waitingFor)
	o, err := r.wait(ctx, j, o, &api.Response{ID: j.ID, FetchURL: j.FetchURL}, events, obs, start, progress)
	done(err)
	if o != nil {
		r.recordEnd(j, o, obs)
	}
	return o, err
}

// redownload fetches the outputs of a finished job whose files are missing
// from disk (with Options.OutputDir: missing from that directory); without
// one and with no files recorded there is nothing to do.
func (r *Runner) redownload(ctx context.Context, j *Job, o *Outcome, obs Observer, progress bool) error {
	dir := r.o.OutputDir
	if dir == "" {
		if !anyFile(o.Files) {
			return nil
		}
		dir = dirOf(o.Files)
	}
	files := make([]string, len(o.Output))
	var missing []string
	var missingIdx []int
	for i, u := range o.Output {
		if i < len(o.Files) && o.Files[i] != "" && filepath.Dir(o.Files[i]) == filepath.Clean(dir) {
			if _, err := os.Stat(o.Files[i]); err == nil {
				files[i] = o.Files[i]
				continue
			}
		}
		missing = append(missing, u)
		missingIdx = append(missingIdx, i)
	}
	o.Files = files
	if len(missing) == 0 {
		return nil
	}
	got, err := r.download(ctx, j, obs, missing, dir, progress)
	for k, i := range missingIdx {
		files[i] = got[k]
	}
	if !anyFile(files) {
		o.Files = nil
	}
	if err != nil {
		return r.downloadError(ctx, o, dir, err)
	}
	obs.Notice(j, Notice{Text: fmt.Sprintf("downloaded %d missing file(s) of job %s", len(missing), o.ID)})
	return nil
}

func dirOf(files []string) string {
	for _, f := range files {
		if f != "" {
			return filepath.Dir(f)
		}
	}
	return "."
}

// Fetch asks the API once for a journalled job's state (mlab fetch) and
// journals it when it turns out finished (adding to what the journal
// knows: a finished job keeps its files, its first end and how it came).
// A job still running comes back processing, with its Stage; a failed one
// with a *FailedError; an intent whose submit was never answered with a
// *SubmitUnknownError.
func (r *Runner) Fetch(ctx context.Context, j *Job, obs Observer) (*Outcome, error) {
	if e := j.Entry; e != nil && e.ID == "" {
		return nil, &SubmitUnknownError{Endpoint: e.Endpoint, TrackID: e.TrackID, Journaled: true, Err: ErrNoAnswer}
	}
	resp, err := r.o.Client.Fetch(ctx, j.Endpoint, j.ID, j.FetchURL)
	if err != nil {
		return nil, err
	}
	o := &Outcome{ID: j.ID, TrackID: j.TrackID, Endpoint: j.Endpoint.Name, Status: StatusProcessing, Message: resp.Message, Meta: resp.Meta}
	switch resp.State() {
	case api.StateSuccess:
		setSucceeded(o, j.Endpoint, resp)
		o.Via = job.ViaPoll
		r.recordEnd(j, o, obs)
		return o, nil
	case api.StateFailed:
		setFailed(o, resp)
		r.recordEnd(j, o, obs)
		return o, &FailedError{ID: j.ID, Response: resp}
	}
	o.Stage = cmp.Or(resp.Stage, resp.Status, string(StatusProcessing))
	return o, nil
}

// BatchState is what the journal knows of a batch.
type BatchState struct {
	Journalled  int                // jobs of the batch in the journal with an id
	Unfinished  []journal.Entry    // journalled jobs still processing
	Unknown     []journal.Entry    // intents: a submit was sent and never answered (it may have made a job)
	Plan        *journal.Plan      // nil when none was saved or it cannot be read
	Unsubmitted []journal.PlanLine // plan lines never sent: neither a job nor an intent of theirs is journalled
	BaseURL     string             // the API the batch went to ("" if unknown)
}

// LoadBatch reads what a resume of batchID has to do: wait for the
// unfinished jobs and submit the plan lines a killed run never got to.
// Plan lines are matched to the journal by their track_id or their line. A line whose submit was sent but never
// answered is Unknown, not Unsubmitted: it may have been paid for.
// Finished jobs are left alone.
func LoadBatch(jr *journal.Journal, batchID string) (*BatchState, error) {
	entries, err := jr.List(journal.Filter{BatchID: batchID})
	if err != nil {
		return nil, fmt.Errorf("read the job journal: %w", err)
	}
	st := &BatchState{}
	submitted := map[string]bool{} // track ids and lines with a job id
	for _, e := range entries {
		st.BaseURL = cmp.Or(st.BaseURL, e.BaseURL)
		if e.ID == "" {
			continue
		}
		st.Journalled++
		submitted[e.TrackID], submitted[lineKey(e.Line)] = true, true
		if !e.Finished() {
			st.Unfinished = append(st.Unfinished, e)
		}
	}
	sent := map[string]bool{} // track ids and lines of intents
	for _, e := range entries {
		if e.ID == "" && !submitted[e.TrackID] && !submitted[lineKey(e.Line)] && !sent[e.TrackID] {
			sent[e.TrackID], sent[lineKey(e.Line)] = true, true
			st.Unknown = append(st.Unknown, e)
		}
	}
	slices.SortFunc(st.Unknown, func(a, b journal.Entry) int { return a.Line - b.Line })
	if plan, err := jr.LoadPlan(batchID); err == nil {
		st.Plan = plan
		st.BaseURL = cmp.Or(st.BaseURL, plan.BaseURL)
		for _, l := range plan.Lines {
			known := func(m map[string]bool) bool { return m[lineKey(l.Line)] || (l.TrackID != "" && m[l.TrackID]) }
			if !known(submitted) && !known(sent) {
				st.Unsubmitted = append(st.Unsubmitted, l)
			}
		}
	}
	return st, nil
}

// lineKey names a batch line among track ids.
func lineKey(line int) string { return fmt.Sprintf("line %d", line) }
