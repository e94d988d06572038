// Package job waits for one submitted ModelsLab job to end: the first of a
// webhook delivery, an eta-guided poll, the timeout or cancellation.
//
// A webhook is a hint until confirmed: ModelsLab signs nothing, so a webhook
// whose output URLs equal the future_links that our own submit call returned
// is trusted for free, anything else costs one fetch. Polling always runs
// (generation webhooks are best-effort), but when a webhook is expected the
// first poll waits a grace period past the eta, so that with a working webhook
// a job costs no fetch at all. Duplicate deliveries are normal: the first
// terminal event wins.
//
// The package prints nothing; it reports progress through a callback and is
// driven by small seams (a fetch function, an event channel) so that it can be
// tested on a fake clock.
package job

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

// Via says what ended the wait.
type Via string

// The ways a job can finish.
const (
	ViaWebhook   Via = "webhook"   // a (confirmed) webhook delivery
	ViaPoll      Via = "poll"      // a fetch call
	ViaImmediate Via = "immediate" // the submit answer itself (set by callers)
)

// Event is one webhook delivery addressed to this job's token.
type Event struct {
	Body       []byte
	ReceivedAt time.Time
}

// Progress is reported on every change of phase.
type Progress struct {
	Elapsed time.Duration // since the wait began
	ETA     time.Duration // the API's estimate (0 if unknown)
	Phase   string        // "waiting", "polling", "webhook received", "confirming", "retrying"
	Fetches int           // fetch calls so far
	Stage   string        // the job's own stage when the API reports one (training stages, workflow states)
	Note    string        // detail for --debug (why a webhook was ignored, a fetch error)
}

// Defaults for [Params].
const (
	DefaultPollInterval = 2 * time.Second
	DefaultMaxInterval  = 30 * time.Second
	DefaultGrace        = 3 * time.Second
	// MaxFetchFailures is how many consecutive failed fetches (each already
	// retried by the API client) end the wait with the error.
	MaxFetchFailures = 3
)

// Params describes one wait.
type Params struct {
	ID          string        // the job id (for messages)
	TrackID     string        // our track_id; a webhook carrying another one is ignored
	ETA         time.Duration // the API's estimate from the submit answer
	FutureLinks []string      // final URLs from the submit answer (over our own HTTPS call)
	// Events carries webhook deliveries for this job's token; nil when no
	// webhook was registered (poll only).
	Events <-chan Event
	// Fetch asks the API for the job's current state once.
	Fetch func(ctx context.Context) (*api.Response, error)
	// Decode turns a webhook body into a response; default api.Decode
	// (training and workflow payloads need api.DecodeFor).
	Decode func(body []byte) (*api.Response, error)
	// Timeout bounds the whole wait; 0 means no limit beyond ctx.
	Timeout time.Duration
	// PollInterval is the first interval between polls (default 2s); it grows
	// by half each time up to MaxInterval (default 30s).
	PollInterval, MaxInterval time.Duration
	// Grace is how long past the eta the first poll waits when a webhook is
	// expected (default 3s plus a fifth of the eta).
	Grace time.Duration
	// OnProgress, if set, is called from the waiting goroutine.
	OnProgress func(Progress)
}

// Result is how a job ended.
type Result struct {
	Response *api.Response // the final, trusted state
	Via      Via
	Fetches  int
	Elapsed  time.Duration
	// WebhookAt is when the deciding webhook arrived (zero when via poll).
	WebhookAt time.Time
}

// ErrTimeout is returned when the job is still running at Params.Timeout.
var ErrTimeout = errors.New("timed out waiting for the job")

// FailedError is returned when the API says the job failed.
type FailedError struct {
	ID       string
	Response *api.Response
}

func (e *FailedError) Error() string {
	msg := e.Response.Message
	if msg == "" {
		msg = "no reason given"
	}
	if e.Response.Stage != "" && !strings.Contains(msg, e.Response.Stage) {
		msg = e.Response.Stage + ": " + msg
	}
	return fmt.Sprintf("job %s failed: %s", e.ID, msg)
}

// maxSeen bounds the duplicate-detection set of one wait.
const maxSeen = 4096

type waiter struct {
	p         Params
	start     time.Time
	fetches   int
	failures  int
	seen      map[[sha256.Size]byte]struct{} // hashes of the webhook bodies handled (duplicates)
	lastStage string
}

// Wait blocks until the job ends. On success it returns the result; when the
// API says the job failed it returns the result and a *FailedError; at the
// timeout it returns ErrTimeout; when ctx ends it returns ctx's error. A fetch
// that keeps failing (MaxFetchFailures times in a row) ends the wait with
// that error.
func Wait(ctx context.Context, p Params) (*Result, error) {
	if p.Fetch == nil {
		return nil, errors.New("job.Wait: Params.Fetch is nil")
	}
	if p.PollInterval <= 0 {
		p.PollInterval = DefaultPollInterval
	}
	if p.MaxInterval < p.PollInterval {
		p.MaxInterval = max(DefaultMaxInterval, p.PollInterval)
	}
	if p.Grace <= 0 {
		p.Grace = DefaultGrace + p.ETA/5
	}
	if p.Decode == nil {
		p.Decode = api.Decode
	}
	w := &waiter{p: p, start: time.Now()}

	waitCtx := ctx
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}

	first := p.ETA
	if p.Events != nil {
		first += p.Grace
	}
	first = max(first, time.Second/2) // never hammer the API at once
	timer := time.NewTimer(first)
	defer timer.Stop()
	interval := p.PollInterval
	events := p.Events
	w.report("waiting", "")

	for {
		select {
		case <-waitCtx.Done():
			return nil, w.ctxErr(ctx)
		case ev, ok := <-events:
			if !ok {
				events = nil // listener gone: polling carries on
				continue
			}
			res, retry, err := w.handleEvent(waitCtx, ev)
			if err != nil && waitCtx.Err() != nil {
				return nil, w.ctxErr(ctx)
			}
			if res != nil || err != nil {
				return res, err
			}
			if retry {
				// The webhook said done but the API does not agree yet:
				// look again soon.
				resetTimer(timer, p.PollInterval)
			}
		case <-timer.C:
			w.report("polling", "")
			resp, err := w.fetch(waitCtx)
			if err != nil {
				if waitCtx.Err() != nil {
					return nil, w.ctxErr(ctx)
				}
				if fatal(err) || w.failures >= MaxFetchFailures {
					return nil, err
				}
				w.report("retrying", err.Error())
			} else {
				switch resp.State() {
				case api.StateSuccess:
					return w.result(resp, ViaPoll, time.Time{}), nil
				case api.StateFailed:
					return w.result(resp, ViaPoll, time.Time{}), &FailedError{ID: p.ID, Response: resp}
				}
				w.stage(resp.Stage, "polling")
			}
			resetTimer(timer, interval)
			interval = min(interval*3/2, p.MaxInterval)
		}
	}
}

// handleEvent decides what a webhook delivery means. It returns a result or
// error when the job is over, or retry=true when the webhook claimed an end
// the API does not confirm yet.
func (w *waiter) handleEvent(ctx context.Context, ev Event) (*Result, bool, error) {
	sum := sha256.Sum256(ev.Body)
	if _, dup := w.seen[sum]; dup {
		w.report("webhook received", "duplicate delivery ignored")
		return nil, false, nil
	}
	if w.seen == nil || len(w.seen) >= maxSeen {
		// Only hashes are kept, and only so many: a token holder sending
		// endless distinct bodies costs a re-check, never memory.
		w.seen = make(map[[sha256.Size]byte]struct{})
	}
	w.seen[sum] = struct{}{}
	hint, err := w.p.Decode(ev.Body)
	if err != nil {
		w.report("webhook received", "ignored: "+err.Error())
		return nil, false, nil
	}
	if hint.TrackID != "" && w.p.TrackID != "" && hint.TrackID != w.p.TrackID {
		w.report("webhook received", fmt.Sprintf("ignored: track_id %q is not this job's", hint.TrackID))
		return nil, false, nil
	}
	switch hint.State() {
	case api.StateSuccess:
		if len(hint.Output) > 0 && subset(hint.Output, w.p.FutureLinks) {
			// The URLs are the ones our own submit call was given: the
			// webhook cannot have made them up.
			return w.result(hint, ViaWebhook, ev.ReceivedAt), false, nil
		}
	case api.StateFailed:
	default:
		if !w.stage(hint.Stage, "webhook received") {
			w.report("webhook received", "ignored: status "+hint.Status)
		}
		return nil, false, nil
	}
	w.report("confirming", "")
	resp, err := w.fetch(ctx)
	if err != nil {
		if fatal(err) {
			return nil, false, err
		}
		w.report("retrying", err.Error())
		return nil, true, nil
	}
	switch resp.State() {
	case api.StateSuccess:
		return w.result(resp, ViaWebhook, ev.ReceivedAt), false, nil
	case api.StateFailed:
		if resp.Message == "" {
			resp.Message = hint.Message
		}
		return w.result(resp, ViaWebhook, ev.ReceivedAt), false, &FailedError{ID: w.p.ID, Response: resp}
	}
	w.report("webhook received", "not confirmed by the API yet: status "+resp.Status)
	return nil, true, nil
}

func (w *waiter) fetch(ctx context.Context) (*api.Response, error) {
	w.fetches++
	resp, err := w.p.Fetch(ctx)
	if err != nil {
		w.failures++
		return nil, err
	}
	w.failures = 0
	return resp, nil
}

func (w *waiter) result(resp *api.Response, via Via, at time.Time) *Result {
	return &Result{Response: resp, Via: via, Fetches: w.fetches, Elapsed: time.Since(w.start), WebhookAt: at}
}

func (w *waiter) ctxErr(parent context.Context) error {
	if err := parent.Err(); err != nil {
		return err
	}
	return ErrTimeout
}

func (w *waiter) report(phase, note string) {
	if w.p.OnProgress != nil {
		w.p.OnProgress(Progress{Elapsed: time.Since(w.start), ETA: w.p.ETA, Phase: phase, Fetches: w.fetches, Stage: w.lastStage, Note: note})
	}
}

// stage records a stage the API reported (a hint only: it never ends the
// wait) and reports it when it is new. It returns whether stage was set.
func (w *waiter) stage(stage, phase string) bool {
	if stage == "" {
		return false
	}
	if stage != w.lastStage {
		w.lastStage = stage
		w.report(phase, "stage "+stage)
	}
	return true
}

// String summarises the result for debug output.
func (r *Result) String() string {
	return fmt.Sprintf("via %s after %s with %d fetches", r.Via, r.Elapsed.Round(time.Millisecond), r.Fetches)
}

// fatal reports errors that polling again cannot fix.
func fatal(err error) bool {
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Kind {
		case api.KindAuth, api.KindCredits, api.KindForbidden, api.KindRejected:
			return true
		}
	}
	return false
}

func subset(urls, allowed []string) bool {
	set := make(map[string]bool, len(allowed))
	for _, u := range allowed {
		set[u] = true
	}
	for _, u := range urls {
		if !set[u] {
			return false
		}
	}
	return true
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}
