package receiver

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mlabcli/mlab/internal/relay"
)

// Relay is mlab listen's webhook relay, bound late: its Accept is
// Options.Relay before the receiver opens, and deliveries are relayed
// once Start (given the receiver's public URL) has run. Until then, and
// after Stop, they are 404, as without a relay.
type Relay struct {
	b  relay.Broker
	rl atomic.Pointer[relay.Relay]
}

// NewRelay returns a relay on b, not started.
func NewRelay(b relay.Broker) *Relay { return &Relay{b: b} }

// Accept is Options.Relay.
func (l *Relay) Accept(ctx context.Context, token string, body []byte, at time.Time) (int, error) {
	r := l.rl.Load()
	if r == nil {
		return http.StatusNotFound, nil
	}
	return r.Accept(ctx, token, body, at)
}

// Start makes the relay (o.Broker is the one given to NewRelay) and
// starts its heartbeat; deliveries are relayed from then on.
func (l *Relay) Start(ctx context.Context, o relay.Options) error {
	o.Broker = l.b
	r, err := relay.New(o)
	if err != nil {
		return err
	}
	if err := r.Start(ctx); err != nil {
		return err
	}
	l.rl.Store(r)
	return nil
}

// Stats says what the relay did so far (zero before Start).
func (l *Relay) Stats() relay.Stats {
	if r := l.rl.Load(); r != nil {
		return r.Stats()
	}
	return relay.Stats{}
}

// Stop stops the heartbeat and relaying, and returns what the relay did
// (ok false when it never started). It does not close the broker.
func (l *Relay) Stop() (st relay.Stats, ok bool) {
	r := l.rl.Swap(nil)
	if r == nil {
		return st, false
	}
	r.Stop()
	return r.Stats(), true
}

// RelayCheckTimeout bounds OpenWaiter's look for a live relay.
const RelayCheckTimeout = 5 * time.Second

// OpenWaiter opens the broker at rawURL (a redis:// or rediss:// URL) and a
// waiter on it, and looks once for a live relay (within
// RelayCheckTimeout): live is relay.ErrNoRelay without one, or the
// broker's error when Redis cannot be asked; the broker stays open
// either way (close it). err is a URL that does not parse.
func OpenWaiter(ctx context.Context, rawURL string, o relay.WaiterOptions) (b *relay.Redis, w *relay.Waiter, live, err error) {
	b, err = relay.OpenRedis(rawURL, relay.RedisOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	w = relay.NewWaiter(b, o)
	cctx, cancel := context.WithTimeout(ctx, RelayCheckTimeout)
	defer cancel()
	_, live = w.Relay(cctx)
	return b, w, live, nil
}
