package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/runner"
	"github.com/mlabcli/mlab/internal/sandbox"
)

// session is what every job of one command run shares: the API client and,
// with --wait, one webhook receiver (one tunnel, one listener; a path token
// per job).
type session struct {
	f       *Factory
	opts    *JobOptions
	client  *api.Client
	baseURL string
	recv    *receiver.Receiver // nil without --wait
	journal *journal.Journal   // nil when it cannot be opened (a warning said so)
	batchID string             // set for --batch runs
	// quietDownloads turns off per-job download bars (a batch draws one
	// aggregate line instead).
	quietDownloads bool
	closers        []func()
}

// oneJob is one submission.
type oneJob struct {
	ep      api.Endpoint
	body    map[string]any
	inputs  []localInput
	trackID string // "" → generated

	pathParams map[string]string // e.g. workflow_id, kept for mlab wait
	fetchURL   string            // set once submitted: the API's own fetch URL, if any
	line       int               // --batch input line (0 otherwise)
	resume     *journal.Entry    // mlab wait --batch: the journalled job
}

// jobUI receives what one job's run has to show.
type jobUI interface {
	submitted(id string, eta float64, waitingFor string)
	update(p job.Progress)
}

// prepareBody drops empty fields and checks the body before anything is
// sent: required fields present, local input files readable (exit 2).
func prepareBody(ep api.Endpoint, body map[string]any) ([]localInput, error) {
	for k, v := range body {
		if s, ok := v.(string); ok && s == "" {
			delete(body, k)
		}
	}
	if missing := ep.Missing(body); len(missing) > 0 {
		return nil, flagErrorf("%s needs %s (pass it with its flag or -F %s=...)", ep.Name, strings.Join(missing, ", "), missing[0])
	}
	return localInputs(body)
}

// openSession opens the API client and, with --wait, the receiver (before
// any submit: the webhook URL must exist before the request is sent).
func openSession(ctx context.Context, f *Factory, o *JobOptions) (*session, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	var extra []api.Option
	if o.Batch != "" {
		// Many jobs against a queue limit: a 429 slows the batch down
		// instead of failing jobs (retry_after is honoured each time).
		extra = append(extra, api.WithRetry(1000, time.Minute))
	}
	client, baseURL, closeAPI, err := f.apiClient(o.Sandbox, extra...)
	if err != nil {
		return nil, err
	}
	s := &session{f: f, opts: o, client: client, baseURL: baseURL, closers: []func(){closeAPI}}
	// The journal is opened before anything is submitted: a paid job must
	// be written down before we wait for it. A journal that cannot be
	// opened does not stop the job; the warning says what is lost.
	if jr, err := openHistoryJournal(f); err != nil {
		f.IO.Warnf("job journal unavailable (%v): an interrupted wait cannot be resumed with 'mlab wait'", err)
	} else {
		s.journal = jr
		s.closers = append(s.closers, func() { jr.Close() })
	}
	if o.Wait {
		recv, err := openReceiver(ctx, f, o, baseURL, cfg.NgrokAuthtoken, cfg.Tunnel)
		if err != nil {
			s.close()
			return nil, err
		}
		s.recv = recv
		s.closers = append(s.closers, recv.Close)
	}
	return s, nil
}

// close releases everything in reverse order: receiver (listener and
// tunnel), then the API (an in-process sandbox).
func (s *session) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// apiClientAt returns a client for a given API base (a journalled job's),
// with the configured key.
func (f *Factory) apiClientAt(baseURL string) (*api.Client, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, err
	}
	if baseURL == "" {
		baseURL = cfg.BaseURL
	}
	if cfg.APIKey == "" {
		return nil, &ConfigError{Msg: "no ModelsLab API key", Hint: "set MODELSLAB_API_KEY or pass --api-key"}
	}
	f.addSecret(cfg.APIKey)
	opts := []api.Option{api.WithUserAgent("mlab/" + f.Build.Version)}
	if w := f.DebugWriter(); w != nil {
		opts = append(opts, api.WithDebug(w))
	}
	return api.New(baseURL, cfg.APIKey, opts...), nil
}

// apiClient returns the API client for this run: the configured API, or
// with sandbox an in-process sandbox (closed by the returned func).
func (f *Factory) apiClient(sandboxed bool, extra ...api.Option) (*api.Client, string, func(), error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, "", nil, err
	}
	baseURL, key, closeFn := cfg.BaseURL, cfg.APIKey, func() {}
	if sandboxed {
		sb := sandbox.New(sandbox.Options{})
		base, err := sb.Start("127.0.0.1:0")
		if err != nil {
			return nil, "", nil, fmt.Errorf("start the sandbox: %w", err)
		}
		closeFn = func() { sb.Close() }
		baseURL = base
		if key == "" {
			key = "sandbox"
		}
		f.IO.Infof("using an in-process sandbox API at %s", base)
	} else if key == "" {
		return nil, "", nil, &ConfigError{
			Msg:  "no ModelsLab API key",
			Hint: fmt.Sprintf("set MODELSLAB_API_KEY, pass --api-key, or put {\"api_key\": \"...\"} in %s/config.json; or try --sandbox, which needs none", cfg.Dir),
		}
	}
	f.addSecret(key)
	clientOpts := []api.Option{api.WithUserAgent("mlab/" + f.Build.Version)}
	if w := f.DebugWriter(); w != nil {
		clientOpts = append(clientOpts, api.WithDebug(w))
	}
	clientOpts = append(clientOpts, extra...)
	return api.New(baseURL, key, clientOpts...), baseURL, closeFn, nil
}

// run submits one job and, with --wait, waits for it and downloads its
// outputs. It returns the job's result whenever something was submitted
// (also with a *job.FailedError or *runner.StoppedError), and prints nothing on
// stdout: printing is the caller's.
func (s *session) run(ctx context.Context, j *oneJob, ui jobUI) (*output.Result, error) {
	f, o := s.f, s.opts
	if err := uploadInputs(ctx, s.client, j.body, j.inputs, f.IO.Infof); err != nil {
		return nil, err
	}
	trackID := j.trackID
	if trackID == "" {
		trackID = newTrackID()
	}
	j.body["track_id"] = trackID

	var reg *receiver.JobRegistration
	if s.recv != nil {
		var err error
		if reg, err = s.recv.RegisterJob(); err != nil {
			return nil, err
		}
		defer reg.Unregister()
		if reg.URL != "" {
			j.body["webhook"] = reg.URL
		}
	}

	start := time.Now()
	resp, err := s.client.Submit(ctx, j.ep, j.body)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", j.ep.Name, err)
	}
	res := &output.Result{
		ID: resp.ID, TrackID: firstNonEmpty(resp.TrackID, trackID), Endpoint: j.ep.Name,
		Status: resp.Status, ETA: resp.ETA, Meta: resp.Meta,
	}
	j.fetchURL = resp.FetchURL
	s.record(j, res, start)
	defer func() { s.recordEnd(res) }()
	if resp.State() == api.StateSuccess {
		res.Via = string(job.ViaImmediate)
		return s.finish(ctx, j, res, resp, start)
	}
	if !o.Wait {
		res.Output = resp.Output
		res.Message = resp.Message
		res.ElapsedMS = time.Since(start).Milliseconds()
		return res, nil
	}

	ui.submitted(resp.ID, resp.ETA, s.recv.WaitingFor())
	var events <-chan job.Event
	if reg != nil {
		events = reg.Events
	}
	return s.wait(ctx, j, res, resp, events, ui, start)
}

// wait follows a submitted job to its end (webhook events, if any, and
// polling) and downloads its outputs. resp is the submit answer, or for a
// resumed job a stand-in holding its id and fetch URL.
func (s *session) wait(ctx context.Context, j *oneJob, res *output.Result, resp *api.Response, events <-chan job.Event, ui jobUI, start time.Time) (*output.Result, error) {
	f, o := s.f, s.opts
	debug := f.DebugWriter()
	params := job.Params{
		ID:           resp.ID,
		TrackID:      res.TrackID,
		ETA:          seconds(resp.ETA),
		FutureLinks:  resp.FutureLinks,
		Events:       events,
		Timeout:      o.Timeout,
		PollInterval: o.PollInterval,
		Fetch: func(ctx context.Context) (*api.Response, error) {
			return s.client.Fetch(ctx, j.ep, resp.ID, resp.FetchURL)
		},
		Decode: func(b []byte) (*api.Response, error) { return api.DecodeFor(j.ep, b) },
		OnProgress: func(p job.Progress) {
			ui.update(p)
			if debug != nil {
				fmt.Fprintf(debug, "job %s: %s after %s (%d fetches) %s", resp.ID, p.Phase, p.Elapsed.Round(time.Millisecond), p.Fetches, p.Note)
			}
		},
	}
	result, werr := job.Wait(ctx, params)
	if result != nil && result.Response != nil && result.Response.Stage != "" {
		ui.update(job.Progress{Elapsed: result.Elapsed, Phase: "done", Stage: result.Response.Stage, Fetches: result.Fetches})
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	if werr != nil {
		var failed *job.FailedError
		switch {
		case errors.As(werr, &failed):
			res.Status = "failed"
			res.Via = string(result.Via)
			res.Message = firstNonEmpty(failed.Response.Message, failed.Response.Stage)
			return res, werr
		case errors.Is(werr, job.ErrTimeout), errors.Is(werr, context.Canceled):
			res.Status = "processing"
			return res, &runner.StoppedError{ID: resp.ID, Err: werr}
		}
		return nil, fmt.Errorf("wait for job %s: %w", resp.ID, werr)
	}
	res.Via = string(result.Via)
	if debug != nil {
		fmt.Fprintf(debug, "job %s: done %s", resp.ID, result)
	}
	return s.finish(ctx, j, res, result.Response, start)
}

// finish fills a successful result and downloads its outputs (with -o).
func (s *session) finish(ctx context.Context, j *oneJob, res *output.Result, resp *api.Response, start time.Time) (*output.Result, error) {
	res.Status = "success"
	res.Output = resp.Output
	if j.ep.Family == api.FamilyTraining {
		res.ModelID = firstNonEmpty(resp.ModelID, res.ID)
	}
	if len(res.Output) == 0 {
		// Some success bodies carry only proxy links.
		res.Output = resp.ProxyLinks
	}
	res.Message = resp.Message
	if s.opts.OutputDir != "" && len(res.Output) > 0 {
		files, err := output.Download(ctx, s.f.IO, res.Output, s.opts.OutputDir, output.DownloadOptions{Progress: !s.quietDownloads})
		if err != nil {
			if ctx.Err() != nil {
				res.Status = "processing" // not done here: rerun the download
				return res, &runner.StoppedError{ID: res.ID, Err: ctx.Err()}
			}
			return res, &runner.DownloadError{Err: err}
		}
		res.Files = files
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	return res, nil
}

// record writes a just-submitted job to the journal, before any waiting.
func (s *session) record(j *oneJob, res *output.Result, start time.Time) {
	if s.journal == nil {
		return
	}
	request := make(map[string]any, len(j.body))
	for k, v := range j.body {
		if k != "webhook" { // its token is a secret, and useless once we exit
			request[k] = v
		}
	}
	err := s.journal.Add(journal.Entry{
		ID: res.ID, TrackID: res.TrackID, Endpoint: j.ep.Name, Kind: j.ep.Kind,
		BaseURL: s.baseURL, FetchURL: j.fetchURL, PathParams: j.pathParams,
		Request: request, BatchID: s.batchID, Line: j.line, SubmittedAt: start, Status: journal.StatusProcessing,
	})
	if err != nil {
		s.f.IO.Warnf("could not write job %s to the journal: %v", res.ID, err)
	}
}

// recordEnd writes how the job ended; a job still running stays
// "processing" so that 'mlab wait' can finish it.
func (s *session) recordEnd(res *output.Result) {
	if s.journal == nil || (res.Status != journal.StatusSuccess && res.Status != journal.StatusFailed) {
		return
	}
	err := s.journal.Update(res.TrackID, func(e *journal.Entry) {
		e.Status, e.Output, e.Files, e.Via, e.Message = res.Status, res.Output, res.Files, res.Via, res.Message
		e.FinishedAt = time.Now()
	})
	if err != nil {
		s.f.IO.Warnf("could not update job %s in the journal: %v", res.ID, err)
	}
}

// resumeHint names the exact command that picks a running job up again.
func (s *session) resumeHint(j *oneJob, res *output.Result) string {
	if s.journal == nil {
		fetch := j.fetchURL
		if fetch == "" {
			fetch = j.ep.FetchURL(s.baseURL, res.ID)
		}
		return fmt.Sprintf("job %s (track_id %s) keeps running at ModelsLab; fetch its result with a POST to %s", res.ID, res.TrackID, fetch)
	}
	return resumeCommand(res.TrackID, s.opts)
}

// resumeCommand is the 'mlab wait' line for a job.
func resumeCommand(ref string, o *JobOptions) string {
	cmd := "mlab wait " + ref
	if o.OutputDir != "" {
		cmd += " -o " + shellQuote(o.OutputDir)
	}
	if o.JSON {
		cmd += " --json"
	}
	return "it keeps running at ModelsLab; resume with: " + cmd
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
