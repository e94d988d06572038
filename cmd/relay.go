package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/receiver"
	"github.com/mlabcli/mlab/internal/relay"
	"github.com/mlabcli/mlab/internal/webhook"
)

// relayEnv is the environment variable that gives --relay's default.
const relayEnv = "MLAB_RELAY"

// relayURL is --relay, else MLAB_RELAY ("": no relay).
func (f *Factory) relayURL(flag string) string {
	if flag != "" {
		return strings.TrimSpace(flag)
	}
	if f.Getenv == nil {
		return ""
	}
	return strings.TrimSpace(f.Getenv(relayEnv))
}

// relayURLError is a --relay URL that does not parse.
func relayURLError(err error) error {
	return &ConfigError{Msg: "--relay / " + relayEnv + ": " + err.Error(), Hint: "give redis://[user:pass@]host:6379/0 or rediss://..."}
}

// listenRelay is mlab listen's relay and its broker.
type listenRelay struct {
	b *relay.Redis
	*receiver.Relay
}

// start starts the relay for publicURL; each delivery it stores goes to
// info, problems later to warn.
func (l *listenRelay) start(ctx context.Context, f *Factory, publicURL, stream string, info, warn func(string)) error {
	err := l.Start(ctx, relay.Options{PublicURL: publicURL, Stream: stream, Version: f.Build.Version,
		OnStored: func(d relay.Delivery) {
			sum := webhook.Summarize(d.Body)
			info(fmt.Sprintf("relayed %s %s for token %s…", cmp.Or(shown(sum.Status), "-"), shown(sum.Describe()), relay.TokenPrefix(d.Token)))
		},
		OnError: func(err error) { warn(output.Safe(f.redact(err.Error()))) },
		OnHeartbeat: func(err error) {
			if err != nil {
				warn("relay heartbeat failing (waiters may poll meanwhile): " + output.Safe(f.redact(err.Error())))
				return
			}
			warn("relay heartbeat works again")
		},
	})
	if err != nil {
		return &ConfigError{Msg: "start the webhook relay: " + f.redact(err.Error()), Hint: "check that Redis at " + l.b.URL() + " is running and the credentials are right (mlab doctor --relay URL)"}
	}
	return nil
}

// stop stops the relay, says what it did (to info), closes the broker.
func (l *listenRelay) stop(info func(string)) {
	if st, ok := l.Stop(); ok {
		info(fmt.Sprintf("Relayed %d deliveries (%d for unregistered tokens answered 404, %d answered 503: Redis did not take them)", st.Stored, st.NotFound, st.Failed))
	}
	l.b.Close()
}

// jobRelay is a job command's (or mlab wait's) relay side: one broker and
// waiter per process; nil when there is no --relay or no live relay.
type jobRelay struct {
	b    *relay.Redis
	w    *relay.Waiter
	url  string // redacted
	live bool   // a relay was live: new jobs get their webhooks through it
}

// openJobRelay opens --relay's broker and waiter. Without a live relay
// (or with Redis unreachable) it says so once (adding hint) and returns
// nil: the job polls and watches links. resume (mlab wait) keeps it
// without a live relay: what was stored can still be read.
func openJobRelay(ctx context.Context, f *Factory, rawURL string, resume bool, hint string) (*jobRelay, error) {
	b, w, live, err := receiver.OpenWaiter(ctx, rawURL, relay.WaiterOptions{
		OnError: func(err error) {
			if d := f.DebugWriter(); d != nil {
				fmt.Fprintln(d, "webhook relay: "+f.redact(err.Error()))
			}
		},
		Notify: func(s string) { f.IO.Infof("%s", f.redact(s)) },
	})
	switch {
	case err != nil:
		return nil, relayURLError(err)
	case live == nil, resume && errors.Is(live, relay.ErrNoRelay):
		return &jobRelay{b: b, w: w, url: b.URL(), live: live == nil}, nil
	case errors.Is(live, relay.ErrNoRelay):
		f.IO.Warnf("%s", f.redact(live.Error()))
	default:
		f.IO.Warnf("webhook relay %s unreachable (%s); polling for results%s", b.URL(), output.Safe(f.redact(live.Error())), hint)
	}
	b.Close()
	return nil, nil
}

func (jr *jobRelay) Close() { jr.b.Close() }

// doctorRelay renders relay.Check's steps (--relay, MLAB_RELAY): Redis
// unreachable or auth refused exit 2, the other failures 4.
func doctorRelay(ctx context.Context, o *DoctorOptions, r *doctorReport) {
	u := o.f.relayURL(o.Relay)
	if u == "" {
		return
	}
	co := relay.CheckOptions{Timeout: o.Timeout}
	if o.webhookClient != nil {
		co.Client = o.webhookClient
	}
	for _, c := range relay.Check(ctx, u, co) {
		name := "relay " + c.Name
		if c.Name == relay.CheckHeartbeat {
			name = c.Name
		}
		msg := c.Detail
		if c.Elapsed > 0 && c.OK {
			msg += fmt.Sprintf(" (%s)", c.Elapsed.Round(time.Millisecond))
		}
		switch {
		case c.OK:
			r.ok(name, "%s", msg)
		case c.Skipped:
			r.warn(name, c.Hint, "%s", cmp.Or(msg, "skipped: an earlier step failed"))
		case c.Name == relay.CheckReachable || c.Name == relay.CheckAuth:
			r.fail(ExitUsage, name, c.Hint, "%s", msg)
		default:
			r.fail(ExitAPI, name, c.Hint, "%s", msg)
		}
	}
}
