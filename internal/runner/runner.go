// Package runner runs ModelsLab jobs from start to end: one job's life
// (upload local inputs → register a webhook token with the receiver →
// submit → journal → wait (internal/job) → download → journal the end), a
// batch of jobs with bounded concurrency, and the resume of journalled jobs
// and batches.
//
// A [Runner] never prints. It reports what happens to an [Observer]
// (restic's ProgressPrinter pattern) and returns an [Outcome]: the command
// renders both. Its dependencies are injected through [Options]: the API
// [Client], the journal, the receiver, the downloader, the clock and the
// track_id maker.
package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/links"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/relay"
)

// Status is a job's state as mlab knows it. Apart from the constants, a job
// submitted without waiting carries the status its submit answer gave.
type Status string

// The statuses (the journal's, plus StatusError for a batch job that could
// not be run at all).
const (
	StatusProcessing Status = journal.StatusProcessing // submitted, not known to be finished
	StatusSuccess    Status = journal.StatusSuccess
	StatusFailed     Status = journal.StatusFailed // the API said failed
	StatusError      Status = "error"              // never submitted, or lost to an API or network error
)

// Finished reports whether s is an end: success or failed.
func (s Status) Finished() bool { return s == StatusSuccess || s == StatusFailed }

// Job is one ModelsLab job: a request to submit, or a journalled job to
// resume (Entry set). The runner fills ID, TrackID and FetchURL once it is
// submitted, and puts track_id (and the webhook URL) into Body.
type Job struct {
	Endpoint   api.Endpoint      // the catalogue row, its path parameters applied
	PathParams map[string]string // e.g. workflow_id, journalled for mlab wait
	Body       map[string]any    // the request; nil for a journalled job
	Inputs     []api.LocalInput  // local files named in Body, uploaded before the submit
	TrackID    string            // "" means Options.NewTrackID's
	Line       int               // the --batch input line (0 otherwise)

	ID       string         // the job id, once submitted
	FetchURL string         // the API's own fetch URL, if it gave one
	Entry    *journal.Entry // the journalled job to resume; nil for a new one
	// Resubmit, if set, is the journalled intent of a submit whose fate
	// is unknown that this new job submits again (a person asked for it):
	// it is dropped from the journal once the new intent is written.
	Resubmit *journal.Entry

	relayToken string // the job's token on the webhook relay (Options.Relay), journalled
}

// Resumed is the job of a journal entry, to be resumed on ep.
func Resumed(ep api.Endpoint, e journal.Entry) *Job {
	return &Job{Endpoint: ep, PathParams: e.PathParams, TrackID: e.TrackID, Line: e.Line, ID: e.ID, FetchURL: e.FetchURL, Entry: &e}
}

// Outcome is how a job ended, or where it stands when the runner stopped
// following it. cmd turns it into the printed result.
type Outcome struct {
	ID       string
	TrackID  string
	Endpoint string
	Status   Status
	Via      job.Via // "" when not waited for
	Output   []string
	Files    []string // downloaded outputs, in the order of Output
	Message  string
	ModelID  string  // a training's model id
	ETA      float64 // the API's estimate in seconds, 0 when none
	Meta     json.RawMessage
	Stage    string // for a fetched job still running: the API's stage or status word
	Elapsed  time.Duration
	BatchID  string // set for the jobs of a batch
	Line     int    // the batch input line
}

// Notice is a line a person should see about a job: an upload, a
// redownload, a journal that could not be written.
type Notice struct {
	Warn bool   // a problem (the job goes on), not just news
	Text string // may quote paths and error texts
	// Retry, when set, says the notice is a passing status: something is
	// tried again in Wait, for this reason ("queue full"). A terminal shows
	// it in its live line; Text says the same in one line.
	Retry string
	Wait  time.Duration
}

// Observer receives a job's events. In a batch its methods are called from
// many goroutines at once, except Finished, whose calls never overlap.
type Observer interface {
	// Submitted: the job is submitted (or resumed) and being waited for;
	// eta is the API's estimate in seconds (0: none), waitingFor says how
	// (see receiver.Receiver.WaitingFor).
	Submitted(j *Job, eta float64, waitingFor string)
	// Progress: the wait changed phase or stage.
	Progress(j *Job, p job.Progress)
	// Notice: something worth a line on stderr.
	Notice(j *Job, n Notice)
	// Finished: the runner is done with the job; o and err are what
	// Runner.Run returns for it (o is nil when nothing was submitted).
	Finished(j *Job, o *Outcome, err error)
}

// NopObserver ignores every event (it is a BatchObserver too); embed it
// to observe only some.
type NopObserver struct{}

func (NopObserver) Submitted(*Job, float64, string) {}
func (NopObserver) Progress(*Job, job.Progress)     {}
func (NopObserver) Notice(*Job, Notice)             {}
func (NopObserver) Finished(*Job, *Outcome, error)  {}
func (NopObserver) Totals(Totals)                   {}

// Client is the part of the API client the runner uses; *api.Client is one.
type Client interface {
	api.Uploader
	Submit(ctx context.Context, ep api.Endpoint, body map[string]any) (*api.Response, error)
	Fetch(ctx context.Context, ep api.Endpoint, id, fetchURL string) (*api.Response, error)
	// FetchOnce is Fetch without retries: a wait schedules its own, each
	// request within its fetch budget.
	FetchOnce(ctx context.Context, ep api.Endpoint, id, fetchURL string) (*api.Response, error)
}

// Options configures a [Runner].
//
// The context given to Run, Batch and Fetch bounds the whole of each job:
// its deadline (a command's --timeout) covers the submit, the wait and the
// downloads, and is shared by every job of a batch. Cancelling it (Ctrl-C)
// stops waits and downloads at once, but a submit already in flight is let
// finish, for at most SubmitGrace and never past the deadline, so that its
// job id is known and journalled rather than lost.
type Options struct {
	Client  Client           // required
	BaseURL string           // the API base, journalled with each job (mlab wait fetches there)
	Journal *journal.Journal // nil: nothing is journalled
	// Sandbox says the API is an in-process sandbox that ends with this
	// process: jobs are journalled with [SandboxBase] of BaseURL, so that
	// no later mlab sends a key to whatever holds that port then.
	Sandbox bool
	// Receiver gives each job its webhook token; nil means poll only.
	Receiver *receiver.Receiver
	// Relay, when set (--relay), gives each job its webhook token on a
	// webhook relay instead of Receiver: registered until the wait's
	// deadline plus relay.RegistrationMargin, journalled (RelayToken) so
	// that mlab wait finds a webhook that arrived while nobody waited.
	// RelayURL is the broker's URL with passwords redacted, journalled.
	Relay    *relay.Waiter
	RelayURL string
	// Wait follows each job to its end; false submits only.
	Wait bool
	// Timeout, if set, bounds each job's wait (on top of the context's
	// deadline); PollInterval is the first interval between polls
	// (job.Params).
	Timeout, PollInterval time.Duration
	// Started, if set, is when the command began: a job's Elapsed counts
	// from it (the time a person waited) instead of from its submit.
	Started time.Time
	// SubmitGrace is how long a submit in flight may go on once the
	// context is cancelled; 0 means DefaultSubmitGrace.
	SubmitGrace time.Duration
	// QueueRetry makes a submit refused with HTTP 429 (the plan's queue is
	// full) wait its retry_after and try again, until the context's
	// deadline: a batch slows down against the queue limit instead of
	// failing its jobs.
	QueueRetry bool
	// OutputDir, if set, is where finished jobs' outputs are downloaded,
	// by Download (required then): it returns the files' paths in the
	// order of urls ("" for those that did not arrive, also with an error).
	OutputDir string
	Download  func(ctx context.Context, urls []string, dir string, o DownloadOptions) ([]string, error)
	// BatchID is journalled with each job of a batch and names its plan.
	BatchID string
	// ProbeRate is how many probes of output links (see package links)
	// per second all the jobs of this runner may send together; 0 means
	// links.DefaultRate, a negative value turns link watching off.
	ProbeRate float64
	// ProbeClient sends the probes; nil means the API client's own HTTP
	// client when it has one (an HTTPClient method), else the links
	// package's.
	ProbeClient *http.Client

	Now        func() time.Time              // default time.Now
	NewTrackID func() string                 // default ids.TrackID
	Debug      func(format string, a ...any) // --debug lines; nil: none
}

// DownloadOptions are what Options.Download is asked for besides the URLs.
type DownloadOptions struct {
	Progress bool // show a progress display (a single job, not a batch)
	// Media says every output should be a media file (an image, clip,
	// recording or 3D model), so that an HTML or XML error page is refused.
	Media bool
	// The job the files belong to, for naming them (mlab's --name).
	ID, TrackID, Prompt, Endpoint string
	Line                          int // the --batch input line, 0 otherwise
}

// DefaultSubmitGrace is how long a submit in flight may go on after an
// interrupt (Options.SubmitGrace).
const DefaultSubmitGrace = 10 * time.Second

// Runner runs jobs with one set of Options. It is safe for concurrent use.
type Runner struct {
	o      Options
	budget *links.Budget  // shared by every job's link probes
	prober *links.Prober  // nil: links are not watched
	health *webhookHealth // whether webhooks have been arriving
	// relayFailing: the last relay registration failed (and said so).
	relayFailing atomic.Bool
}

// New returns a runner.
func New(o Options) *Runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewTrackID == nil {
		o.NewTrackID = ids.TrackID
	}
	if o.SubmitGrace <= 0 {
		o.SubmitGrace = DefaultSubmitGrace
	}
	r := &Runner{o: o, health: &webhookHealth{}}
	if o.ProbeRate >= 0 {
		r.budget = links.NewBudget(o.ProbeRate)
		hc := o.ProbeClient
		if c, ok := o.Client.(interface{ HTTPClient() *http.Client }); ok && hc == nil {
			hc = c.HTTPClient()
		}
		r.prober = &links.Prober{Client: hc}
	}
	return r
}

// tunnelMode is how webhooks reach this runner's jobs, as journalled:
// the receiver's mode, or "none".
func (r *Runner) tunnelMode() string {
	if r.o.Relay != nil {
		return "relay"
	}
	if r.o.Receiver == nil || !r.o.Receiver.Listening() {
		return "none"
	}
	return string(r.o.Receiver.Mode)
}

// Journaled reports whether jobs are written to a journal (and so can be
// resumed with mlab wait).
func (r *Runner) Journaled() bool { return r.o.Journal != nil }

// FetchURL is where a submitted job's state can be fetched.
func (r *Runner) FetchURL(j *Job) string {
	if j.FetchURL != "" {
		return j.FetchURL
	}
	return j.Endpoint.FetchURL(r.o.BaseURL, j.ID)
}

// WaitingFor says how results will arrive, for a "submitted" line (see
// receiver.Receiver.WaitingFor).
func (r *Runner) WaitingFor() string {
	if r.o.Relay != nil {
		return "; waiting for its webhook (relay) and polling as a fallback"
	}
	return r.o.Receiver.WaitingFor()
}

// waitingFor is WaitingFor for one submitted job: a job whose relay
// registration failed (no live relay, Redis down) is polled.
func (r *Runner) waitingFor(j *Job) string {
	if r.o.Relay != nil && j.relayToken == "" {
		return "; polling for the result"
	}
	return r.WaitingFor()
}

func (r *Runner) since(t time.Time) time.Duration { return r.o.Now().Sub(t) }

// elapsed is a job's Elapsed: since its start, or since Options.Started
// when that is earlier.
func (r *Runner) elapsed(start time.Time) time.Duration {
	if s := r.o.Started; !s.IsZero() && s.Before(start) {
		start = s
	}
	return r.since(start)
}

func (r *Runner) debugf(format string, a ...any) {
	if r.o.Debug != nil {
		r.o.Debug(format, a...)
	}
}
