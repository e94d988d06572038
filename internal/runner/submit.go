package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/api"
)

// The submit window. A submit may be paid for from the moment it leaves:
// the job is written down (an intent) before the POST, completed with its
// id after the answer, and dropped only when the answer proves that no job
// was made. A submit in flight outlives an interrupt (SubmitGrace), so
// that Ctrl-C does not turn a paid job into an unknown one.

// maxQueueWait caps one wait between two submits refused for a full queue.
const maxQueueWait = time.Minute

// submit sends j's submit, journalled as an intent first. With
// Options.QueueRetry a submit refused with 429 is tried again after its
// retry_after for as long as ctx allows. A failed submit that may have
// reached the API is a *SubmitUnknownError.
func (r *Runner) submit(ctx context.Context, j *Job, obs Observer) (*api.Response, error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			// Nothing is in flight: stop before sending anything.
			return nil, fmt.Errorf("submit %s: not sent: %w", j.Endpoint.Name, err)
		}
		resp, err := r.submitOnce(ctx, j, obs)
		if err == nil || !r.o.QueueRetry || !queueFull(err) {
			return resp, err
		}
		if !r.queueWait(ctx, err, attempt, func(d time.Duration) {
			obs.Notice(j, Notice{Text: "queue full, retrying in " + waitText(d), Retry: "queue full", Wait: d})
		}) {
			return nil, err
		}
	}
}

// submitOnce is one submit (with the API client's own retries), between
// its intent and its journal entry.
func (r *Runner) submitOnce(ctx context.Context, j *Job, obs Observer) (*api.Response, error) {
	at := r.intent(j, obs)
	sctx, cancel := r.submitContext(ctx)
	defer cancel()
	r.debugf("job %s: submitting %s", j.TrackID, j.Endpoint.Name)
	resp, err := r.o.Client.Submit(sctx, j.Endpoint, j.Body)
	if err == nil && resp.ID == "" && resp.State() != api.StateSuccess {
		// "processing" with no id: the job may exist, but it cannot be
		// followed.
		err = &api.Error{Op: "submit " + j.Endpoint.Name, Kind: api.KindDecode, Status: resp.Status,
			Message: cmp.Or(resp.Message, "the API answered "+cmp.Or(resp.Status, "a submit")+" without a job id")}
	}
	switch {
	case err == nil:
		r.submitted(j, at, resp, obs)
		return resp, nil
	case api.NotSubmitted(err):
		r.forget(j, at, obs)
		return nil, err
	}
	return nil, &SubmitUnknownError{Endpoint: j.Endpoint.Name, TrackID: j.TrackID, Journaled: !at.IsZero(), Err: err}
}

// submitContext is the context of one submit: it ends at ctx's deadline,
// or SubmitGrace after ctx is cancelled, whichever comes first.
func (r *Runner) submitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if dl, ok := ctx.Deadline(); ok {
		var cancelDL context.CancelFunc
		sctx, cancelDL = context.WithDeadline(sctx, dl)
		cancelAll := cancel
		cancel = func() { cancelDL(); cancelAll() }
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(r.o.SubmitGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-done:
		}
	})
	return sctx, func() {
		close(done)
		stop()
		cancel()
	}
}

// queueFull reports a submit refused because the plan's queue is full.
func queueFull(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Kind == api.KindRateLimited && api.NotSubmitted(err)
}

// queueWait sleeps before submit attempt+1 after a full queue: the API's
// retry_after, else 1s, 2s, 4s… (at most maxQueueWait), telling notify
// first. It reports false
// when ctx ends first; a wait that would pass ctx's deadline is not begun.
func (r *Runner) queueWait(ctx context.Context, err error, attempt int, notify func(time.Duration)) bool {
	var e *api.Error
	errors.As(err, &e)
	d := e.RetryAfter
	if d <= 0 {
		d = time.Second << min(attempt-1, 6)
	}
	d = min(d, maxQueueWait)
	if dl, ok := ctx.Deadline(); ok && r.o.Now().Add(d).After(dl) {
		<-ctx.Done() // the API's answer stands, at the deadline
		return false
	}
	r.debugf("queue full: next submit in %s", d)
	notify(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// waitText is a wait in whole seconds, rounded up: "2s".
func waitText(d time.Duration) string {
	return fmt.Sprintf("%ds", max(int((d+time.Second-1)/time.Second), 1))
}
