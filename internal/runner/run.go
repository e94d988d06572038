package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
)

// Run runs one job and then calls obs.Finished. A new job is submitted
// and, with Options.Wait, waited for and its outputs downloaded. A
// journalled job (Entry set, see [Resumed]) is resumed: one still
// processing is polled to its end (its old webhook URL is gone) and its
// outputs downloaded; one that succeeded is not fetched again, only the
// files missing from disk are downloaded again; a failed one returns its
// *FailedError at once.
//
// Run returns the outcome whenever there is a job, also with a
// *FailedError (the API said failed), a *StoppedError (timeout or
// interrupt: the job goes on), or a *DownloadError. It returns a nil
// outcome when nothing was submitted (an *api.InputError for a local file,
// or the upload, registration or submit error) or when the wait itself
// failed.
func (r *Runner) Run(ctx context.Context, j *Job, obs Observer) (*Outcome, error) {
	o, err := r.do(ctx, j, obs, true)
	obs.Finished(j, o, err)
	return o, err
}

// do runs or resumes j; progress asks for download progress displays.
func (r *Runner) do(ctx context.Context, j *Job, obs Observer, progress bool) (*Outcome, error) {
	if j.Entry != nil {
		return r.resume(ctx, j, obs, progress)
	}
	return r.run(ctx, j, obs, progress)
}

func (r *Runner) run(ctx context.Context, j *Job, obs Observer, progress bool) (*Outcome, error) {
	err := api.UploadInputs(ctx, r.o.Client, j.Body, j.Inputs, func(in api.LocalInput, size int) {
		obs.Notice(j, Notice{Text: fmt.Sprintf("uploaded %s (%d bytes) for %s", in.Path, size, in.Field)})
	})
	if err != nil {
		return nil, err
	}
	if j.TrackID == "" {
		j.TrackID = r.o.NewTrackID()
	}
	j.Body["track_id"] = j.TrackID
	events, unregister, err := r.register(j)
	if err != nil {
		return nil, err
	}
	defer unregister()

	start := r.o.Now()
	resp, err := r.o.Client.Submit(ctx, j.Endpoint, j.Body)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", j.Endpoint.Name, err)
	}
	j.ID, j.FetchURL = resp.ID, resp.FetchURL
	o := &Outcome{
		ID: resp.ID, TrackID: firstNonEmpty(resp.TrackID, j.TrackID), Endpoint: j.Endpoint.Name,
		Status: Status(resp.Status), ETA: resp.ETA, Meta: resp.Meta,
	}
	r.record(j, o, start, obs)
	defer r.recordEnd(j, o, obs)
	if resp.State() == api.StateSuccess {
		o.Via = job.ViaImmediate
		return r.finish(ctx, o, j.Endpoint, resp, start, progress)
	}
	if !r.o.Wait {
		o.Output, o.Message, o.Elapsed = resp.Output, resp.Message, r.since(start)
		return o, nil
	}
	obs.Submitted(j, resp.ETA, r.o.Receiver.WaitingFor())
	return r.wait(ctx, j, o, resp, events, obs, start, progress)
}

// register gives j its own webhook token on the receiver, if there is one,
// and puts its URL in the body; unregister ends it.
func (r *Runner) register(j *Job) (events <-chan job.Event, unregister func(), err error) {
	if r.o.Receiver == nil {
		return nil, func() {}, nil
	}
	reg, err := r.o.Receiver.RegisterJob()
	if err != nil {
		return nil, nil, err
	}
	if reg.URL != "" {
		j.Body["webhook"] = reg.URL
	}
	return reg.Events, reg.Unregister, nil
}

// wait follows a submitted job to its end (webhook events, if any, and
// polling) and downloads its outputs. resp is the submit answer, or for a
// resumed job a stand-in holding its id and fetch URL.
func (r *Runner) wait(ctx context.Context, j *Job, o *Outcome, resp *api.Response, events <-chan job.Event, obs Observer, start time.Time, progress bool) (*Outcome, error) {
	params := job.Params{
		ID:           resp.ID,
		TrackID:      o.TrackID,
		ETA:          seconds(resp.ETA),
		FutureLinks:  resp.FutureLinks,
		Events:       events,
		Timeout:      r.o.Timeout,
		PollInterval: r.o.PollInterval,
		Fetch: func(ctx context.Context) (*api.Response, error) {
			return r.o.Client.Fetch(ctx, j.Endpoint, resp.ID, resp.FetchURL)
		},
		Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(j.Endpoint, b) },
		OnProgress: func(p job.Progress) {
			obs.Progress(j, p)
			r.debugf("job %s: %s after %s (%d fetches) %s", resp.ID, p.Phase, p.Elapsed.Round(time.Millisecond), p.Fetches, p.Note)
		},
	}
	result, werr := job.Wait(ctx, params)
	if result != nil && result.Response != nil && result.Response.Stage != "" {
		obs.Progress(j, job.Progress{Elapsed: result.Elapsed, Phase: "done", Stage: result.Response.Stage, Fetches: result.Fetches})
	}
	o.Elapsed = r.since(start)
	if werr != nil {
		var failed *job.FailedError
		switch {
		case errors.As(werr, &failed):
			if result != nil {
				o.Via = result.Via
			}
			setFailed(o, failed.Response)
			return o, werr
		case errors.Is(werr, job.ErrTimeout), errors.Is(werr, context.Canceled):
			o.Status = StatusProcessing
			return o, &StoppedError{ID: resp.ID, Err: werr}
		}
		return nil, fmt.Errorf("wait for job %s: %w", resp.ID, werr)
	}
	o.Via = result.Via
	r.debugf("job %s: done %s", resp.ID, result)
	return r.finish(ctx, o, j.Endpoint, result.Response, start, progress)
}

// finish fills a successful outcome and downloads its outputs (with
// Options.OutputDir). An interrupted download leaves the job processing:
// it is not done here until its files are.
func (r *Runner) finish(ctx context.Context, o *Outcome, ep api.Endpoint, resp *api.Response, start time.Time, progress bool) (*Outcome, error) {
	setSucceeded(o, ep, resp)
	if r.o.OutputDir != "" && len(o.Output) > 0 {
		files, err := r.download(ctx, o.Output, r.o.OutputDir, progress)
		if err != nil {
			if ctx.Err() != nil {
				o.Status = StatusProcessing
				return o, &StoppedError{ID: o.ID, Err: ctx.Err()}
			}
			return o, &DownloadError{Err: err}
		}
		o.Files = files
	}
	o.Elapsed = r.since(start)
	return o, nil
}

func (r *Runner) download(ctx context.Context, urls []string, dir string, progress bool) ([]string, error) {
	if r.o.Download == nil {
		return nil, errors.New("runner: Options.Download is not set")
	}
	return r.o.Download(ctx, urls, dir, progress)
}

// setSucceeded is the one mapping of a successful answer (webhook, fetch or
// submit) onto an outcome.
func setSucceeded(o *Outcome, ep api.Endpoint, resp *api.Response) {
	o.Status = StatusSuccess
	o.Output = resp.Output
	if len(o.Output) == 0 {
		// Some success bodies carry only proxy links.
		o.Output = resp.ProxyLinks
	}
	if ep.Family == api.FamilyTraining {
		o.ModelID = firstNonEmpty(resp.ModelID, o.ID)
	}
	o.Message = resp.Message
}

// setFailed is the one mapping of a failed answer onto an outcome.
func setFailed(o *Outcome, resp *api.Response) {
	o.Status = StatusFailed
	o.Message = firstNonEmpty(resp.Message, resp.Stage)
}

// record writes a just-submitted job to the journal, before any waiting.
func (r *Runner) record(j *Job, o *Outcome, start time.Time, obs Observer) {
	if r.o.Journal == nil {
		return
	}
	request := make(map[string]any, len(j.Body))
	for k, v := range j.Body {
		if k != "webhook" { // its token is a secret, and useless once we exit
			request[k] = v
		}
	}
	err := r.o.Journal.Add(journal.Entry{
		ID: o.ID, TrackID: o.TrackID, Endpoint: j.Endpoint.Name, Kind: j.Endpoint.Kind,
		BaseURL: r.o.BaseURL, FetchURL: j.FetchURL, PathParams: j.PathParams,
		Request: request, BatchID: r.o.BatchID, Line: j.Line, SubmittedAt: start, Status: journal.StatusProcessing,
	})
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not write job %s to the journal: %v", o.ID, err)})
	}
}

// recordEnd writes how the job ended; a job still running stays
// processing so that mlab wait can finish it.
func (r *Runner) recordEnd(j *Job, o *Outcome, obs Observer) {
	if r.o.Journal == nil || !o.Status.Finished() {
		return
	}
	err := r.o.Journal.Update(o.TrackID, func(e *journal.Entry) {
		e.Status, e.Output, e.Files, e.Via, e.Message = string(o.Status), o.Output, o.Files, string(o.Via), o.Message
		e.FinishedAt = r.o.Now()
	})
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("could not update job %s in the journal: %v", o.ID, err)})
	}
}

// seconds converts the API's eta to a duration (0 for none).
func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
