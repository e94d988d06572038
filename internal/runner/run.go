package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
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

func (r *Runner) run(ctx context.Context, j *Job, obs Observer, progress bool) (_ *Outcome, err error) {
	err = api.UploadInputs(ctx, r.o.Client, j.Body, j.Inputs, func(in api.LocalInput, size int) {
		obs.Notice(j, Notice{Text: fmt.Sprintf("uploaded %s (%d bytes) for %s", in.Path, size, in.Field)})
	})
	if err != nil {
		return nil, err
	}
	if j.TrackID == "" {
		j.TrackID = r.o.NewTrackID()
	}
	j.Body["track_id"] = j.TrackID
	events, unregister, err := r.register(ctx, j, obs)
	if err != nil {
		return nil, err
	}
	defer func() { unregister(err) }()

	start := r.o.Now()
	resp, err := r.submit(ctx, j, obs)
	if err != nil {
		return nil, err
	}
	j.ID, j.FetchURL = resp.ID, resp.FetchURL
	o := &Outcome{
		ID: resp.ID, TrackID: cmp.Or(resp.TrackID, j.TrackID), Endpoint: j.Endpoint.Name,
		Status: Status(resp.Status), ETA: resp.ETA, Meta: resp.Meta,
	}
	defer r.recordEnd(j, o, obs)
	if ctx.Err() != nil {
		// Interrupted while the submit was in flight: it was let finish,
		// so the job is known; stop here.
		if resp.State() == api.StateSuccess {
			setSucceeded(o, j.Endpoint, resp)
		} else {
			o.Status = StatusProcessing
		}
		o.Elapsed = r.elapsed(start)
		return o, &StoppedError{ID: o.ID, Err: stopCause(ctx.Err())}
	}
	if resp.State() == api.StateSuccess {
		o.Via = job.ViaImmediate
		return r.finish(ctx, j, o, resp, obs, start, progress)
	}
	if !r.o.Wait {
		o.Output, o.Message, o.Elapsed = resp.Output, resp.Message, r.elapsed(start)
		return o, nil
	}
	obs.Submitted(j, resp.ETA, r.waitingFor(j))
	return r.wait(ctx, j, o, resp, events, obs, start, progress)
}

// register gives j its own webhook token on the receiver, if there is one,
// and puts its URL in the body; unregister ends it.
func (r *Runner) register(ctx context.Context, j *Job, obs Observer) (events <-chan job.Event, unregister func(error), err error) {
	if r.o.Relay != nil && r.o.Wait {
		events, done := r.registerRelay(ctx, j, obs)
		return events, done, nil
	}
	if r.o.Receiver == nil {
		return nil, func(error) {}, nil
	}
	reg, err := r.o.Receiver.RegisterJob()
	if err != nil {
		return nil, nil, err
	}
	if reg.URL != "" {
		j.Body["webhook"] = reg.URL
	}
	return reg.Events, func(error) { reg.Unregister() }, nil
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
		Budget:       r.budget,
		Fetch: func(ctx context.Context) (*api.Response, error) {
			return r.o.Client.FetchOnce(ctx, j.Endpoint, resp.ID, resp.FetchURL)
		},
		Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(j.Endpoint, b) },
		OnProgress: func(p job.Progress) {
			obs.Progress(j, p)
			r.debugf("job %s: %s after %s (%d fetches) %s", resp.ID, p.Phase, p.Elapsed.Round(time.Millisecond), p.Fetches, p.Note)
		},
	}
	if r.prober != nil {
		params.Probe = r.prober.Check
	}
	if events != nil {
		params.NoWebhookGrace = !r.expectWebhooks()
		params.WebhooksArriving = r.health.verdict
	}
	result, werr := job.Wait(ctx, params)
	if events != nil && result != nil {
		r.health.record(result.Via)
	}
	o.Elapsed = r.elapsed(start)
	if werr != nil {
		var failed *job.FailedError
		switch {
		case errors.As(werr, &failed):
			if result != nil {
				o.Via = result.Via
			}
			setFailed(o, failed.Response)
			return o, werr
		case errors.Is(werr, job.ErrTimeout), errors.Is(werr, context.Canceled), errors.Is(werr, context.DeadlineExceeded):
			o.Status = StatusProcessing
			return o, &StoppedError{ID: resp.ID, Err: stopCause(werr)}
		}
		var ae *api.Error
		if errors.As(werr, &ae) {
			return nil, werr // "fetch ID: ..." names the job already
		}
		return nil, fmt.Errorf("wait for job %s: %w", resp.ID, werr)
	}
	o.Via = result.Via
	r.debugf("job %s: done %s", resp.ID, result)
	return r.finish(ctx, j, o, result.Response, obs, start, progress)
}

// expectWebhooks says whether webhooks have been arriving (see
// webhookHealth), learning from the journal first.
func (r *Runner) expectWebhooks() bool {
	r.health.seed(r.o.Journal, r.tunnelMode(), r.o.Now())
	ok, why, news := r.health.arriving()
	if news {
		r.debugf("%s", why)
	}
	return ok
}

// finish fills a successful outcome and downloads its outputs (with
// Options.OutputDir). The job is done at the API whatever happens to the
// download: the outcome says success (journalled so), with the files that
// did arrive and a *DownloadError, or a *StoppedError when the deadline or
// an interrupt cut the download short.
func (r *Runner) finish(ctx context.Context, j *Job, o *Outcome, resp *api.Response, obs Observer, start time.Time, progress bool) (*Outcome, error) {
	setSucceeded(o, j.Endpoint, resp)
	defer func() { o.Elapsed = r.elapsed(start) }()
	if r.o.OutputDir == "" || len(o.Output) == 0 {
		return o, nil
	}
	files, err := r.download(ctx, j, obs, o.Output, r.o.OutputDir, progress)
	if anyFile(files) {
		o.Files = files // in the order of Output, "" for those that did not arrive
	}
	return o, r.downloadError(ctx, o, r.o.OutputDir, err)
}

// downloadError is how a download of o's outputs into dir ended.
func (r *Runner) downloadError(ctx context.Context, o *Outcome, dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &StoppedError{ID: o.ID, Err: stopCause(ctx.Err()), Downloading: true, Dir: dir}
	}
	return &DownloadError{ID: o.ID, Dir: dir, Err: err}
}

// download fetches urls into dir, telling obs first (phase
// "downloading": a display of the wait makes room for the download's).
func (r *Runner) download(ctx context.Context, j *Job, obs Observer, urls []string, dir string, progress bool) ([]string, error) {
	if r.o.Download == nil {
		return nil, errors.New("runner: Options.Download is not set")
	}
	obs.Progress(j, job.Progress{Phase: "downloading"})
	prompt, _ := j.Body["prompt"].(string)
	files, err := r.o.Download(ctx, urls, dir, DownloadOptions{
		Progress: progress, Media: mediaKinds[j.Endpoint.Kind],
		ID: j.ID, TrackID: j.TrackID, Line: j.Line, Prompt: prompt, Endpoint: j.Endpoint.Name,
	})
	if len(files) != len(urls) {
		files = append(files, make([]string, max(len(urls)-len(files), 0))...)[:len(urls)]
	}
	return files, err
}

// mediaKinds are the job kinds whose every output is a media file.
var mediaKinds = map[string]bool{"img": true, "edit": true, "video": true, "audio": true, "3d": true, "faceswap": true, "interior": true}

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
		o.ModelID = cmp.Or(resp.ModelID, o.ID)
	}
	o.Message = resp.Message
}

// setFailed is the one mapping of a failed answer onto an outcome.
func setFailed(o *Outcome, resp *api.Response) {
	o.Status = StatusFailed
	o.Message = cmp.Or(resp.Message, resp.Stage)
}

// seconds converts the API's eta to a duration (0 for none).
func seconds(s float64) time.Duration {
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
