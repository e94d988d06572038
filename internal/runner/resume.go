package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
)

// resume picks up a journalled job (see Run).
func (r *Runner) resume(ctx context.Context, j *Job, obs Observer, progress bool) (*Outcome, error) {
	e := j.Entry
	o := &Outcome{
		ID: j.ID, TrackID: j.TrackID, Endpoint: j.Endpoint.Name, Status: Status(e.Status),
		Output: e.Output, Files: e.Files, Via: job.Via(e.Via), Message: e.Message,
	}
	switch o.Status {
	case StatusSuccess:
		if err := r.redownload(ctx, j, o, obs, progress); err != nil {
			return o, err
		}
		r.recordEnd(j, o, obs)
		return o, nil
	case StatusFailed:
		return o, &FailedError{ID: j.ID, Response: &api.Response{Message: e.Message}}
	}
	start := r.o.Now()
	obs.Submitted(j, 0, r.o.Receiver.WaitingFor())
	o, err := r.wait(ctx, j, o, &api.Response{ID: j.ID, FetchURL: j.FetchURL}, nil, obs, start, progress)
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
		if len(o.Files) == 0 {
			return nil
		}
		dir = dirOf(o.Files)
	}
	files := make([]string, len(o.Output))
	var missing []string
	var missingIdx []int
	for i, u := range o.Output {
		if i < len(o.Files) && filepath.Dir(o.Files[i]) == filepath.Clean(dir) {
			if _, err := os.Stat(o.Files[i]); err == nil {
				files[i] = o.Files[i]
				continue
			}
		}
		missing = append(missing, u)
		missingIdx = append(missingIdx, i)
	}
	if len(missing) > 0 {
		got, err := r.download(ctx, missing, dir, progress)
		if err != nil {
			return &DownloadError{Err: err}
		}
		for k, i := range missingIdx {
			files[i] = got[k]
		}
		obs.Notice(j, Notice{Text: fmt.Sprintf("downloaded %d missing file(s) of job %s", len(missing), o.ID)})
	}
	o.Files = files
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
// journals it when it turns out finished. A job still running comes back
// processing, with its Stage; a failed one with a *FailedError.
func (r *Runner) Fetch(ctx context.Context, j *Job, obs Observer) (*Outcome, error) {
	resp, err := r.o.Client.Fetch(ctx, j.Endpoint, j.ID, j.FetchURL)
	if err != nil {
		return nil, fmt.Errorf("fetch job %s: %w", j.ID, err)
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
	o.Stage = firstNonEmpty(resp.Stage, resp.Status, string(StatusProcessing))
	return o, nil
}

// BatchState is what the journal knows of a batch.
type BatchState struct {
	Journalled  int                // jobs of the batch in the journal
	Unfinished  []journal.Entry    // journalled jobs still processing
	Plan        *journal.Plan      // nil when none was saved or it cannot be read
	Unsubmitted []journal.PlanLine // plan lines that no journalled job came from
	BaseURL     string             // the API the journalled jobs went to ("" if none)
}

// LoadBatch reads what a resume of batchID has to do: wait for the
// unfinished jobs and submit the plan lines a killed run never got to.
// Finished jobs are left alone.
func LoadBatch(jr *journal.Journal, batchID string) (*BatchState, error) {
	entries, err := jr.List(journal.Filter{BatchID: batchID})
	if err != nil {
		return nil, fmt.Errorf("read the job journal: %w", err)
	}
	st := &BatchState{Journalled: len(entries)}
	journalled := map[int]bool{}
	for _, e := range entries {
		journalled[e.Line] = true
		st.BaseURL = e.BaseURL
		if !e.Finished() {
			st.Unfinished = append(st.Unfinished, e)
		}
	}
	if plan, err := jr.LoadPlan(batchID); err == nil {
		st.Plan = plan
		for _, l := range plan.Lines {
			if !journalled[l.Line] {
				st.Unsubmitted = append(st.Unsubmitted, l)
			}
		}
	}
	return st, nil
}
