package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/relay"
)

// relayURL is the broker URL journalled with a relayed job.
func (r *Runner) relayURL(j *Job) string {
	if j.relayToken == "" {
		return ""
	}
	return r.o.RelayURL
}

// relayUntil is how long a job's token stays registered: the wait's
// deadline (the context's, or Options.Timeout from now, whichever comes
// first) plus relay.RegistrationMargin; zero (refreshed while the wait
// runs) without a deadline.
func (r *Runner) relayUntil(ctx context.Context) time.Time {
	var until time.Time
	if d, ok := ctx.Deadline(); ok {
		until = d
	}
	if r.o.Timeout > 0 {
		if t := time.Now().Add(r.o.Timeout); until.IsZero() || t.Before(until) {
			until = t
		}
	}
	if until.IsZero() {
		return until
	}
	return until.Add(relay.RegistrationMargin)
}

// relayDone ends a job's registration: a job that ended (or whose wait
// failed) is unregistered; one whose wait stopped (timeout, interrupt)
// keeps its token and stream for relay.DefaultStreamTTL, for mlab wait.
func (r *Runner) relayDone(reg *relay.Registration, err error) {
	var stopped *StoppedError
	if errors.As(err, &stopped) && !stopped.Downloading {
		reg.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if kerr := reg.Keep(ctx, relay.DefaultStreamTTL); kerr != nil {
			r.debugf("webhook relay: keeping token %s… failed: %v", relay.TokenPrefix(reg.Token), kerr)
		}
		return
	}
	reg.Unregister()
}

// registerRelay registers a fresh token for j on the relay. A relay that
// cannot register (gone, Redis unreachable) is a notice: j is polled. A
// batch says so once: later jobs that cannot register either are polled
// without one (--debug names them), until a registration works again.
func (r *Runner) registerRelay(ctx context.Context, j *Job, obs Observer) (<-chan job.Event, func(error)) {
	reg, err := r.o.Relay.Register(ctx, "", r.relayUntil(ctx))
	if err != nil {
		if r.relayFailing.Swap(true) {
			r.debugf("webhook relay: could not register job line %d's webhook (%v); polling", j.Line, err)
			return nil, func(error) {}
		}
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("webhook relay: could not register the job's webhook (%v); polling for the result", err)})
		return nil, func(error) {}
	}
	r.relayFailing.Store(false)
	j.Body["webhook"] = reg.URL
	j.relayToken = reg.Token
	return reg.Events, func(err error) { r.relayDone(reg, err) }
}

// resumeRelay reads what the relay stored for a journalled job's token
// (nil without one, or without Options.Relay).
func (r *Runner) resumeRelay(ctx context.Context, j *Job, obs Observer) (<-chan job.Event, func(error)) {
	tok := ""
	if j.Entry != nil {
		tok = j.Entry.RelayToken
	}
	if tok == "" || r.o.Relay == nil {
		return nil, func(error) {}
	}
	reg, err := r.o.Relay.Resume(ctx, tok, r.relayUntil(ctx))
	if err != nil {
		obs.Notice(j, Notice{Warn: true, Text: fmt.Sprintf("webhook relay: could not read the job's stored webhooks (%v); polling for the result", err)})
		return nil, func(error) {}
	}
	j.relayToken = tok
	return reg.Events, func(err error) { r.relayDone(reg, err) }
}
