// Package job waits for one submitted ModelsLab job to end: the first of a
// webhook delivery, its output links all answering, a fetch that says it
// ended, the timeout or cancellation.
//
// A webhook is a hint until confirmed: ModelsLab signs nothing, so a webhook
// whose output URLs equal the future_links that our own submit call returned
// is trusted for free; anything else is checked, by the links or by one
// fetch. Duplicate deliveries are normal: the first terminal event wins.
//
// Webhooks are best-effort, so the wait never relies on one. It watches the
// future links (probes under a budget shared by every job of the process,
// see package links), dense where the eta says the job most likely ends:
// when every link answers, the job is done ("via": "links"), for no API
// call at all. Fetches catch what links cannot tell (a failure, a job
// without links); they are placed where they pay and never outnumber, at
// any moment, the official CLI's (see [OfficialFetchAt]). When a webhook is
// expected, a job within its eta's window costs no fetch at all.
//
// The package prints nothing; it reports progress through a callback and is
// driven by small seams (fetch and probe functions, an event channel) so
// that it can be tested on a fake clock.
package job

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/links"
)

// Via says what ended the wait.
type Via string

// The ways a job can finish.
const (
	ViaWebhook   Via = "webhook"   // a (confirmed) webhook delivery
	ViaPoll      Via = "poll"      // a fetch call
	ViaLinks     Via = "links"     // every future link answered (no API call)
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
	Phase   string        // "waiting", "polling", "webhook received", "confirming", "retrying", "watching links"
	Fetches int           // fetch calls so far
	Probes  int           // link probes so far
	Stage   string        // the job's own stage when the API reports one (training stages, workflow states)
	// StageIndex and StageCount place a training stage in the order a
	// training walks them ("deploying_model" is 7 of 8); 0 when Stage is
	// not one of them (see [StagePosition]).
	StageIndex, StageCount int
	// Log holds the lines of the job's log (a training's logs, split at
	// their "/n" separators, see [SplitLogs]) that are new since the last
	// report.
	Log  []string
	Note string // detail for --debug (why a webhook was ignored, a fetch error)
	// RetryIn and Reason are set with phase "retrying": the next fetch is
	// in RetryIn, after a failure of that kind ("rate limited", "HTTP
	// 503", "unreachable", see api.RetryReason).
	RetryIn time.Duration
	Reason  string
}

// trainingStages are the stages a training walks, in order (the API's
// training_status words).
var trainingStages = []string{
	"deploying_gpu", "training_started", "training_success", "trained_model_compressing",
	"trained_model_uploading", "trained_model_uploaded", "deploying_model", "model_ready",
}

// StagePosition places a training stage: "deploying_model" is 7 of 8. It
// returns 0, 0 for any other word (a workflow state, a failure).
func StagePosition(stage string) (index, count int) {
	if i := slices.Index(trainingStages, stage); i >= 0 {
		return i + 1, len(trainingStages)
	}
	return 0, 0
}

// SplitLogs splits a training log into its lines: the API separates them
// with a literal "/n" (and sometimes real newlines). Blank lines are
// dropped, the others trimmed.
func SplitLogs(logs string) []string {
	var lines []string
	for _, part := range strings.Split(logs, "/n") {
		for _, line := range strings.Split(part, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				lines = append(lines, line)
			}
		}
	}
	return lines
}

// Defaults for [Params].
const (
	DefaultPollInterval = 2 * time.Second
	DefaultMaxInterval  = 30 * time.Second
	DefaultGrace        = 3 * time.Second
	// LinkHold is how long a wait whose links all answered still waits for
	// a webhook that is expected (and has been arriving), so that a
	// working webhook is not beaten by a probe by a few milliseconds.
	LinkHold = 200 * time.Millisecond
	// MaxFetchFailures is how many consecutive failed fetches end the wait
	// with the error (each is one request: the wait retries on its own
	// schedule, within the fetch budget).
	MaxFetchFailures = 5
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
	// Fetch asks the API for the job's current state once (one request:
	// the wait's schedule does the retrying).
	Fetch func(ctx context.Context) (*api.Response, error)
	// Probe, if set, checks whether one future link exists (see
	// links.Prober.Check); the links are watched only then.
	Probe func(ctx context.Context, link string) (bool, error)
	// Budget is the probe budget shared by every wait of the process; nil
	// means one of links.DefaultRate for this wait alone.
	Budget *links.Budget
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
	// NoWebhookGrace says webhooks have not been arriving lately (a learned
	// fact, see runner): fetches are placed as if none was expected, even
	// with Events set.
	NoWebhookGrace bool
	// WebhooksArriving, if set, is asked when the links answer while a
	// webhook is expected: false (webhooks have stopped arriving since the
	// wait began) ends the wait at once instead of holding for LinkHold.
	WebhooksArriving func() bool
	// OnProgress, if set, is called from the waiting goroutine.
	OnProgress func(Progress)
}

// Result is how a job ended.
type Result struct {
	Response *api.Response // the final, trusted state
	Via      Via
	Fetches  int
	Probes   int
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
	if strings.Contains(msg, "/n") {
		// A training's logs: one line each, under the reason.
		lines := SplitLogs(msg)
		if len(lines) > 0 {
			lines[0] = strings.TrimSuffix(lines[0], ":")
		}
		msg = strings.Join(lines, "\n  ")
	}
	return fmt.Sprintf("job %s failed: %s", e.ID, msg)
}

// maxSeen bounds the duplicate-detection set of one wait.
const maxSeen = 4096

type waiter struct {
	p         Params
	sched     schedule
	plan      *fetchPlan
	start     time.Time
	fetches   int
	failures  int
	probes    atomic.Int64
	seen      map[[sha256.Size]byte]struct{} // hashes of the webhook bodies handled (duplicates)
	lastStage string
	logs      []string // the log lines reported so far

	nextFetch  time.Duration // elapsed time of the next fetch (budget applied)
	confirming *Event        // the webhook a fetch in flight or due is confirming
	inFlight   bool
}

// fetchDone is the answer to one fetch run off the waiting goroutine.
type fetchDone struct {
	resp *api.Response
	err  error
}

// linkNews is what the link watcher tells the waiting goroutine.
type linkNews struct {
	ready bool   // every link is there
	note  string // otherwise: something for --debug
}

// Wait blocks until the job ends. On success it returns the result; when the
// API says the job failed it returns the result and a *FailedError; at the
// timeout it returns ErrTimeout; when ctx ends it returns ctx's error. A fetch
// that keeps failing (MaxFetchFailures times in a row) ends the wait with
// that error.
//
// Three things can end a wait, and the first to say the job ended wins: a
// webhook delivery (trusted when its outputs are the future links, else a
// hint that is checked), the future links all answering (probed under
// Params.Budget, see package links), and a fetch. Fetches follow the eta
// (see [OfficialFetchAt] for the budget they never exceed); so do probes.
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
	w.sched = schedule{
		eta: p.ETA, links: p.Probe != nil && len(p.FutureLinks) > 0,
		pollInterval: p.PollInterval, maxInterval: p.MaxInterval,
	}
	if p.Events != nil && !p.NoWebhookGrace {
		w.sched.grace = p.Grace
	}
	w.plan = w.sched.plan()

	waitCtx := ctx
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	// Everything started for this wait ends with it: the link watcher and
	// a fetch in flight are cancelled and waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stop := context.WithCancel(waitCtx)
	defer stop()

	news := make(chan linkNews, 8)
	poke := make(chan struct{}, 1)
	if w.sched.links {
		wg.Go(func() { w.watchLinks(runCtx, news, poke) })
	}
	fetched := make(chan fetchDone, 1)

	w.nextFetch = w.budgeted(w.plan.next(0))
	timer := time.NewTimer(w.nextFetch)
	defer timer.Stop()
	events := p.Events
	var hold <-chan time.Time // the links answered: the webhook's last moment
	w.report("waiting", "")

	for {
		select {
		case <-waitCtx.Done():
			return nil, w.ctxErr(ctx)
		case n := <-news:
			if !n.ready {
				w.report("watching links", n.note)
				continue
			}
			if events == nil || p.NoWebhookGrace || w.confirming != nil || (p.WebhooksArriving != nil && !p.WebhooksArriving()) {
				return w.viaLinks(), nil
			}
			// A webhook is expected and they have been arriving: give it
			// a moment, so that a working webhook is seen working (and
			// its body, not ours, is the result).
			w.report("links ready", "")
			hold = time.After(LinkHold)
		case <-hold:
			return w.viaLinks(), nil
		case ev, ok := <-events:
			if !ok {
				events = nil // listener gone: polling carries on
				continue
			}
			res, err, confirm := w.handleEvent(ev)
			if res != nil || err != nil {
				return res, err
			}
			if confirm {
				// A hint: look at the links now, and ask the API as soon
				// as the fetch budget allows.
				w.confirming = &ev
				select {
				case poke <- struct{}{}:
				default:
				}
				if !w.inFlight {
					w.nextFetch = w.budgeted(w.elapsed())
					resetTimer(timer, w.nextFetch-w.elapsed())
				}
			}
		case <-timer.C:
			if w.inFlight {
				continue
			}
			w.inFlight = true
			w.fetches++
			if w.confirming != nil {
				w.report("confirming", "")
			} else {
				w.report("polling", "")
			}
			wg.Go(func() {
				resp, err := w.p.Fetch(runCtx)
				fetched <- fetchDone{resp, err}
			})
		case fd := <-fetched:
			w.inFlight = false
			res, err := w.handleFetch(waitCtx, fd)
			if err != nil && waitCtx.Err() != nil {
				return nil, w.ctxErr(ctx)
			}
			if res != nil || err != nil {
				return res, err
			}
			resetTimer(timer, w.nextFetch-w.elapsed())
		}
	}
}

// handleFetch takes a fetch's answer: the result or error that ends the
// wait, or neither (then w.nextFetch says when to ask again).
func (w *waiter) handleFetch(ctx context.Context, fd fetchDone) (*Result, error) {
	now := w.elapsed()
	if fd.err != nil {
		w.failures++
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fatal(fd.err) || w.failures >= MaxFetchFailures {
			return nil, fd.err
		}
		// Back off 1 s, 2 s, 4 s … or as long as the API asked.
		wait := time.Second << min(w.failures-1, 5)
		var ae *api.Error
		if errors.As(fd.err, &ae) && ae.RetryAfter > 0 {
			wait = ae.RetryAfter
		}
		w.nextFetch = w.budgeted(max(now+wait, w.plan.next(now)))
		w.emit(Progress{Phase: "retrying", Note: fd.err.Error(), RetryIn: w.nextFetch - now, Reason: api.RetryReason(fd.err)})
		return nil, nil
	}
	w.failures = 0
	resp := fd.resp
	via, at := ViaPoll, time.Time{}
	if ev := w.confirming; ev != nil {
		via, at = ViaWebhook, ev.ReceivedAt
	}
	switch resp.State() {
	case api.StateSuccess:
		return w.result(resp, via, at), nil
	case api.StateFailed:
		if ev := w.confirming; ev != nil && resp.Message == "" {
			if hint, err := w.p.Decode(ev.Body); err == nil {
				resp.Message = hint.Message
			}
		}
		return w.result(resp, via, at), &FailedError{ID: w.p.ID, Response: resp}
	}
	if w.confirming != nil {
		w.report("webhook received", "not confirmed by the API yet: status "+resp.Status)
		w.confirming = nil
		// The webhook said it ended: look again soon (budget allowing).
		w.nextFetch = w.budgeted(now + w.p.PollInterval)
		return nil, nil
	}
	w.stage(resp, "polling")
	w.nextFetch = w.budgeted(w.plan.next(now))
	return nil, nil
}

// budgeted is the earliest time at or after want at which the next fetch
// stays within the official CLI's count.
func (w *waiter) budgeted(want time.Duration) time.Duration {
	return max(want, OfficialFetchAt(w.fetches+1))
}

func (w *waiter) elapsed() time.Duration { return time.Since(w.start) }

// viaLinks is the result of a job whose every future link answered: the
// links came from our own submit call, so they are its outputs.
func (w *waiter) viaLinks() *Result {
	resp := &api.Response{Status: "success", ID: w.p.ID, TrackID: w.p.TrackID, Output: slices.Clone(w.p.FutureLinks)}
	return w.result(resp, ViaLinks, time.Time{})
}

// watchLinks probes the future links on the schedule until every one
// answers (then it says so on news) or ctx ends. poke asks for a probe now
// (a webhook said the job ended).
func (w *waiter) watchLinks(ctx context.Context, news chan<- linkNews, poke <-chan struct{}) {
	budget := w.p.Budget
	if budget == nil {
		budget = links.NewBudget(links.DefaultRate)
	}
	tell := func(n linkNews) {
		if n.ready {
			select {
			case news <- n:
			case <-ctx.Done():
			}
			return
		}
		select { // notes are for --debug: never block the watcher on them
		case news <- n:
		default:
		}
	}
	pending := slices.Clone(w.p.FutureLinks)
	timer := time.NewTimer(w.sched.nextProbe(0))
	defer timer.Stop()
	var lastErr string
	last := w.start // the last probe (for the budget's staleness)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-poke:
		}
		if err := budget.Acquire(ctx, w.sched.weight(w.elapsed()), last); err != nil {
			return
		}
		last = time.Now()
		for len(pending) > 0 {
			w.probes.Add(1)
			ready, err := w.p.Probe(ctx, pending[0])
			if ctx.Err() != nil {
				return
			}
			var te *links.ThrottledError
			switch {
			case errors.As(err, &te):
				budget.Throttled(te.RetryAfter)
			case errors.Is(err, links.ErrNotProbeable):
				tell(linkNews{note: "links cannot be watched: " + err.Error()})
				return
			case err == nil:
				budget.OK()
			}
			if err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				tell(linkNews{note: lastErr})
			}
			if !ready {
				break
			}
			pending = pending[1:]
			if len(pending) > 0 {
				// The next link costs a probe of its own.
				if err := budget.Acquire(ctx, w.sched.weight(w.elapsed()), last); err != nil {
					return
				}
				last = time.Now()
			}
		}
		if len(pending) == 0 {
			tell(linkNews{ready: true})
			return
		}
		resetTimer(timer, max(w.sched.nextProbe(w.elapsed())-w.elapsed(), 0))
	}
}

// handleEvent decides what a webhook delivery means: the result or error
// that ends the wait, or confirm=true when it claims an end that must be
// checked (a success with other URLs than the future links, or a failure).
func (w *waiter) handleEvent(ev Event) (res *Result, err error, confirm bool) {
	sum := sha256.Sum256(ev.Body)
	if _, dup := w.seen[sum]; dup {
		w.report("webhook received", "duplicate delivery ignored")
		return nil, nil, false
	}
	if w.seen == nil || len(w.seen) >= maxSeen {
		// Only hashes are kept, and only so many: a token holder sending
		// endless distinct bodies costs a re-check, never memory.
		w.seen = make(map[[sha256.Size]byte]struct{})
	}
	w.seen[sum] = struct{}{}
	hint, derr := w.p.Decode(ev.Body)
	if derr != nil {
		w.report("webhook received", "ignored: "+derr.Error())
		return nil, nil, false
	}
	if hint.TrackID != "" && w.p.TrackID != "" && hint.TrackID != w.p.TrackID {
		w.report("webhook received", fmt.Sprintf("ignored: track_id %q is not this job's", hint.TrackID))
		return nil, nil, false
	}
	switch hint.State() {
	case api.StateSuccess:
		if len(hint.Output) > 0 && subset(hint.Output, w.p.FutureLinks) {
			// The URLs are the ones our own submit call was given: the
			// webhook cannot have made them up.
			return w.result(hint, ViaWebhook, ev.ReceivedAt), nil, false
		}
	case api.StateFailed:
	default:
		if !w.stage(hint, "webhook received") {
			w.report("webhook received", "ignored: status "+hint.Status)
		}
		return nil, nil, false
	}
	w.report("webhook received", "checking it")
	return nil, nil, true
}

func (w *waiter) result(resp *api.Response, via Via, at time.Time) *Result {
	w.stage(resp, "done") // the last stage and log lines
	return &Result{Response: resp, Via: via, Fetches: w.fetches, Probes: int(w.probes.Load()), Elapsed: time.Since(w.start), WebhookAt: at}
}

func (w *waiter) ctxErr(parent context.Context) error {
	if err := parent.Err(); err != nil {
		return err
	}
	return ErrTimeout
}

func (w *waiter) report(phase, note string) {
	w.emit(Progress{Phase: phase, Note: note})
}

// emit fills p's counters and stage and reports it.
func (w *waiter) emit(p Progress) {
	if w.p.OnProgress == nil {
		return
	}
	p.Elapsed, p.ETA, p.Fetches, p.Probes, p.Stage = time.Since(w.start), w.p.ETA, w.fetches, int(w.probes.Load()), w.lastStage
	p.StageIndex, p.StageCount = StagePosition(p.Stage)
	w.p.OnProgress(p)
}

// stage records the stage and log lines an answer reported (a hint only:
// they never end the wait) and reports them when they are new. It returns
// whether the answer had a stage.
func (w *waiter) stage(resp *api.Response, phase string) bool {
	if resp == nil {
		return false
	}
	fresh := w.newLogLines(SplitLogs(resp.Logs))
	if resp.Stage != "" && resp.Stage != w.lastStage {
		w.lastStage = resp.Stage
		w.emit(Progress{Phase: phase, Note: "stage " + resp.Stage, Log: fresh})
	} else if len(fresh) > 0 {
		w.emit(Progress{Phase: phase, Log: fresh})
	}
	return resp.Stage != ""
}

// newLogLines returns the lines of a log (the whole log so far, as the API
// sends it) that were not reported yet, and remembers them.
func (w *waiter) newLogLines(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	var fresh []string
	if len(lines) >= len(w.logs) && slices.Equal(lines[:len(w.logs)], w.logs) {
		fresh = slices.Clone(lines[len(w.logs):])
	} else {
		// Not the log reported so far, grown: whatever is not in it.
		for _, l := range lines {
			if !slices.Contains(w.logs, l) {
				fresh = append(fresh, l)
			}
		}
	}
	if len(lines) <= maxLogLines {
		w.logs = lines
	}
	return fresh
}

// maxLogLines bounds the log a wait remembers (a hostile webhook could
// send any amount).
const maxLogLines = 1000

// String summarises the result for debug output.
func (r *Result) String() string {
	return fmt.Sprintf("via %s after %s with %d fetches and %d probes", r.Via, r.Elapsed.Round(time.Millisecond), r.Fetches, r.Probes)
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
