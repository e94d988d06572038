package relay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/ids"
	"github.com/mlabcli/mlab/internal/job"
)

// Defaults for [WaiterOptions].
const (
	// DefaultBlock is how long one XREAD BLOCK waits; between two, the
	// waiter checks that its token is still registered.
	DefaultBlock = 5 * time.Second
	// DefaultIdleTTL is the registration's lifetime when the wait has no
	// deadline; it is refreshed every read while the wait runs.
	DefaultIdleTTL = time.Hour
	// RegistrationMargin is what a job command adds to its wait's deadline
	// for the token's TTL: a runner killed just before the deadline leaves
	// a token that still takes its webhook, for `mlab wait` to find.
	RegistrationMargin = 10 * time.Minute
	// minBackoff and maxBackoff bound the retries of a failed read.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// WaiterOptions configures a [Waiter].
type WaiterOptions struct {
	Block time.Duration // one XREAD BLOCK; default DefaultBlock
	// OnError is told every failed read or registration check (Redis
	// unreachable, restarting); the waiter retries it with backoff
	// (100 ms doubling to 5 s) while its context lives. For --debug.
	OnError func(error)
	// Notify is told what a person may want to know: a registration that
	// was gone from the broker (restarted without persistence) and was
	// made again, reads that work again after failures.
	Notify func(string)
}

// Waiter registers job tokens with the relays' broker and turns what the
// relays store for them into job.Events: the webhook side of a job
// command or `mlab wait` with --relay.
type Waiter struct {
	b Broker
	o WaiterOptions
}

// NewWaiter returns a waiter on b.
func NewWaiter(b Broker, o WaiterOptions) *Waiter {
	if o.Block <= 0 {
		o.Block = DefaultBlock
	}
	return &Waiter{b: b, o: o}
}

// Relay returns the live relay to send webhooks to, or ErrNoRelay. With
// several live relays it picks the public URL most of them advertise
// (relays behind one URL), then the first URL.
func (w *Waiter) Relay(ctx context.Context) (RelayInfo, error) {
	rs, err := w.b.Relays(ctx)
	if err != nil {
		return RelayInfo{}, err
	}
	if len(rs) == 0 {
		return RelayInfo{}, ErrNoRelay
	}
	return pick(rs), nil
}

func pick(rs []RelayInfo) RelayInfo {
	count := map[string]int{}
	for _, r := range rs {
		count[r.URL]++
	}
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if count[a.URL] != count[b.URL] {
			return count[a.URL] > count[b.URL]
		}
		if a.URL != b.URL {
			return a.URL < b.URL
		}
		return a.ID < b.ID
	})
	return rs[0]
}

// Registration is one token registered with the relays: its webhook URL,
// and its deliveries as job.Events, each entry of its stream once, from
// the stream's start (so a webhook that arrived while nobody waited is
// found). It reads until Close, Unregister or the context given to
// [Waiter.Register] ends.
type Registration struct {
	Token  string
	URL    string    // the relay's public base URL + "/" + Token: the job's webhook ("" from Resume without a live relay)
	Relay  RelayInfo // the relay chosen
	Events <-chan job.Event

	w      *Waiter
	cancel context.CancelFunc
	in     chan job.Event
	events chan job.Event
	fwd    chan struct{} // closed when the forwarder (the only sender on events) is gone
	reader chan struct{} // closed when the reader is gone

	mu    sync.Mutex
	until time.Time // the registration's expiry; zero: DefaultIdleTTL, refreshed

	closeOnce, unregOnce sync.Once
}

// Register registers token ("" for a fresh one) until until (zero: no
// deadline, the registration is refreshed while the wait runs and lasts
// DefaultIdleTTL after it) and starts reading its stream from the start.
// It returns ErrNoRelay when no relay is live; other errors are the
// broker's (unreachable: poll instead, with one notice). Registering a
// token that is registered already (mlab wait of a relayed job) extends
// its registration and finds what it holds.
func (w *Waiter) Register(ctx context.Context, token string, until time.Time) (*Registration, error) {
	if token == "" {
		token = ids.Token()
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	relay, err := w.Relay(ctx)
	if err != nil {
		return nil, err
	}
	return w.start(ctx, token, until, relay)
}

// Resume is Register for `mlab wait` of a relayed job (token: the
// journal's): it reads what the token's stream holds even when no relay
// is live (URL is "" then: nothing new can arrive until one is), since a
// webhook stored before the relay went away is still there.
func (w *Waiter) Resume(ctx context.Context, token string, until time.Time) (*Registration, error) {
	if err := checkToken(token); err != nil {
		return nil, err
	}
	relay, err := w.Relay(ctx)
	if err != nil && !errors.Is(err, ErrNoRelay) {
		return nil, err
	}
	return w.start(ctx, token, until, relay)
}

func (w *Waiter) start(ctx context.Context, token string, until time.Time, relay RelayInfo) (*Registration, error) {
	g := &Registration{Token: token, Relay: relay, w: w, until: until,
		in: make(chan job.Event), events: make(chan job.Event, 16), fwd: make(chan struct{}), reader: make(chan struct{})}
	if relay.URL != "" {
		g.URL = relay.URL + "/" + token
	}
	g.Events = g.events
	if err := w.b.Register(ctx, token, g.ttl()); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	go g.forward(rctx)
	go g.read(rctx)
	return g, nil
}

// ttl is what is left of the registration (at least a second), or
// DefaultIdleTTL without a deadline.
func (g *Registration) ttl() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.until.IsZero() {
		return DefaultIdleTTL
	}
	return max(time.Until(g.until), time.Second)
}

func (g *Registration) expired() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.until.IsZero() && !time.Now().Before(g.until)
}

// forward is the only sender on events: it closes it when the
// registration stops, at once, whatever the reader is doing.
func (g *Registration) forward(ctx context.Context) {
	defer close(g.fwd)
	defer close(g.events)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-g.in:
			select {
			case g.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}
}

// read follows the token's stream from the start. A failed read is
// retried with backoff; after one, and every Block otherwise, it checks
// that the token is still registered and registers it again if the
// broker lost it (a restart without persistence).
func (g *Registration) read(ctx context.Context) {
	defer close(g.reader)
	w := g.w
	after := "0"
	checked := time.Now()
	check := false
	failures := 0
	fail := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		failures++
		d := backoff(failures)
		if w.o.OnError != nil {
			w.o.OnError(fmt.Errorf("webhook relay, token %s…: %s (attempt %d, retrying in %s): %w", TokenPrefix(g.Token), what, failures, d.Round(time.Millisecond), err))
		}
		check = true
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ctx.Err() == nil {
		if check || time.Since(checked) >= w.o.Block {
			if !g.ensure(ctx, fail) {
				if ctx.Err() != nil {
					return
				}
				continue
			}
			checked, check = time.Now(), false
		}
		ds, err := w.b.Read(ctx, g.Token, after, w.o.Block)
		if err != nil {
			if !fail("reading its deliveries failed", err) {
				return
			}
			continue
		}
		if failures > 0 {
			if w.o.Notify != nil {
				w.o.Notify(fmt.Sprintf("webhook relay: reading token %s…'s deliveries works again after %d failed attempts", TokenPrefix(g.Token), failures))
			}
			failures = 0
		}
		for _, d := range ds {
			after = d.Entry
			select {
			case g.in <- job.Event{Body: d.Body, ReceivedAt: d.ReceivedAt}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// ensure keeps the registration: refreshed without a deadline, restored
// when lost; false when it failed (fail was told and has waited).
func (g *Registration) ensure(ctx context.Context, fail func(string, error) bool) bool {
	g.mu.Lock()
	idle := g.until.IsZero()
	g.mu.Unlock()
	if idle {
		if err := g.w.b.Register(ctx, g.Token, DefaultIdleTTL); err != nil {
			fail("refreshing its registration failed", err)
			return false
		}
		return true
	}
	if g.expired() {
		return true // past its deadline: let it lapse, keep reading what is there
	}
	restored, err := g.w.b.Restore(ctx, g.Token, g.ttl())
	if err != nil {
		fail("checking its registration failed", err)
		return false
	}
	if restored && g.w.o.Notify != nil {
		g.w.o.Notify(fmt.Sprintf("webhook relay: token %s…'s registration was gone from Redis (restarted without persistence?) and is registered again; a webhook that came meanwhile was refused, polling covers it", TokenPrefix(g.Token)))
	}
	return true
}

// backoff is the wait before retry n (1, 2, …): 100 ms doubling to 5 s,
// ±20 %.
func backoff(n int) time.Duration {
	d := minBackoff << min(n-1, 10)
	d = min(d, maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Close stops reading and closes Events; it returns once no event can
// follow. The token stays registered until its expiry, so what arrives
// meanwhile is stored for a later Register of the same token (mlab wait).
// It is idempotent.
func (g *Registration) Close() {
	g.closeOnce.Do(func() {
		g.cancel()
		<-g.fwd
	})
}

// Unregister closes the registration and removes the token and what was
// stored for it (within 2 s; they expire anyway): for a job that ended.
// It is idempotent (the shape of receiver.JobRegistration.Unregister).
func (g *Registration) Unregister() {
	g.unregOnce.Do(func() {
		g.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.w.b.Unregister(ctx, g.Token); err != nil && g.w.o.OnError != nil {
			g.w.o.OnError(fmt.Errorf("webhook relay: unregistering token %s… failed (it expires on its own): %w", TokenPrefix(g.Token), err))
		}
	})
}

// Keep moves the token's expiry to ttl from now (a wait that timed out or
// was interrupted keeps its token for a later `mlab wait`). It works
// after Close too.
func (g *Registration) Keep(ctx context.Context, ttl time.Duration) error {
	g.mu.Lock()
	g.until = time.Now().Add(ttl)
	g.mu.Unlock()
	return g.w.b.Register(ctx, g.Token, ttl)
}
