package links

import (
	"context"
	"sync"
	"time"
)

// DefaultRate is the default number of probes per second one process may
// send in all, whatever the number of jobs in flight.
const DefaultRate = 20

// Backoff bounds: the first pause after a 429 or 5xx from the CDN (unless
// it says Retry-After), and the longest.
const (
	MinBackoff = time.Second
	MaxBackoff = 30 * time.Second
)

// jitterMargin widens the gap between two probes (see NewBudget).
const jitterMargin = 1.05

// Budget is the probe budget shared by every job of a process: at most
// Rate probes per second in all (a token bucket with a small burst), given
// out by priority, and paused for everyone when the CDN answers 429 or 5xx.
// It is safe for concurrent use; its zero value is not: use [NewBudget].
//
// When the budget is short, the next probe goes to the caller with the
// highest weight × staleness: weight is how likely its job is done (the
// waits use 1 inside the eta's window, less before it), staleness how long
// since it last probed. So every job in its window is probed in turn, the
// longest unprobed first, and none starves; equal scores go in the order
// they asked.
type Budget struct {
	interval time.Duration // between two tokens
	burst    int

	mu       sync.Mutex
	tokens   float64   // available at last
	last     time.Time // when tokens was computed
	pauseTil time.Time // no token before this (CDN back-off)
	backoff  time.Duration
	waiters  []*waiter
	seq      uint64
	changed  chan struct{} // closed and replaced when the queue or the pause changes

	granted, backoffs int
}

type waiter struct {
	weight float64
	since  time.Time // its last probe (or the start of its wait)
	seq    uint64
}

func (w *waiter) score(now time.Time) float64 {
	return w.weight * float64(now.Sub(w.since))
}

// NewBudget returns a budget of rate probes per second (DefaultRate when
// rate <= 0). It keeps no burst, and two probes are never closer than
// 1/rate plus a twentieth (jitter on the way to the CDN must not put rate+1
// in one of its seconds), so a CDN counting any window of one second sees
// at most rate.
func NewBudget(rate float64) *Budget {
	if rate <= 0 {
		rate = DefaultRate
	}
	burst := 1
	return &Budget{
		interval: time.Duration(float64(time.Second) / rate * jitterMargin),
		burst:    burst,
		tokens:   float64(burst),
		changed:  make(chan struct{}),
	}
}

// Acquire blocks until the caller may send one probe, or ctx ends (then it
// returns ctx's error and takes nothing). weight (> 0) is how likely the
// caller's job is done, since when it last probed (see [Budget]).
func (b *Budget) Acquire(ctx context.Context, weight float64, since time.Time) error {
	b.mu.Lock()
	b.seq++
	w := &waiter{weight: max(weight, 1e-6), since: since, seq: b.seq}
	b.waiters = append(b.waiters, w)
	b.signalLocked()
	for {
		wait, granted := b.tryLocked(w)
		if granted {
			b.mu.Unlock()
			return nil
		}
		changed := b.changed
		b.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.removeLocked(w)
			b.signalLocked()
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return ctx.Err()
		case <-changed:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		b.mu.Lock()
	}
}

// tryLocked grants w a token when it is first in line and one is there;
// else it says how long until the next token (0: wait for a change).
func (b *Budget) tryLocked(w *waiter) (time.Duration, bool) {
	now := time.Now()
	if now.Before(b.pauseTil) {
		return b.pauseTil.Sub(now), false
	}
	b.refillLocked(now)
	if b.first(now) != w {
		if b.tokens >= 1 {
			// Scores move with time: the one first now may be asleep,
			// waiting for a change. Wake everyone to look again.
			b.signalLocked()
		}
		return 0, false
	}
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(b.interval)), false
	}
	b.tokens--
	b.granted++
	b.removeLocked(w)
	b.signalLocked() // the next in line may go (or learn its wait)
	return 0, true
}

func (b *Budget) refillLocked(now time.Time) {
	if b.last.IsZero() || now.Before(b.last) {
		b.last = now
		return
	}
	b.tokens = min(b.tokens+float64(now.Sub(b.last))/float64(b.interval), float64(b.burst))
	b.last = now
}

// first is the waiter to serve next: the highest score, the oldest among
// equals.
func (b *Budget) first(now time.Time) *waiter {
	var best *waiter
	var bestScore float64
	for _, w := range b.waiters {
		sc := w.score(now)
		if best == nil || sc > bestScore || (sc == bestScore && w.seq < best.seq) {
			best, bestScore = w, sc
		}
	}
	return best
}

func (b *Budget) removeLocked(w *waiter) {
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			return
		}
	}
}

func (b *Budget) signalLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Throttled tells the budget that the CDN answered 429 or 5xx: every probe
// pauses for retryAfter when the CDN gave one, else for a back-off that
// doubles with each report (MinBackoff up to MaxBackoff) until [Budget.OK].
func (b *Budget) Throttled(retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backoffs++
	d := retryAfter
	if d <= 0 {
		b.backoff = min(max(b.backoff*2, MinBackoff), MaxBackoff)
		d = b.backoff
	}
	d = min(d, MaxBackoff)
	if until := time.Now().Add(d); until.After(b.pauseTil) {
		b.pauseTil = until
	}
	// Nothing goes out during the pause; the first probe goes when it ends.
	b.tokens, b.last = 0, time.Now()
	b.signalLocked()
}

// OK tells the budget that the CDN answered normally: the back-off starts
// again from MinBackoff at the next 429 or 5xx.
func (b *Budget) OK() {
	b.mu.Lock()
	b.backoff = 0
	b.mu.Unlock()
}

// BudgetStats counts what a budget gave out.
type BudgetStats struct {
	Granted  int // probes allowed
	Throttle int // 429/5xx reports that paused everyone
	Waiting  int // callers waiting now
}

// Stats reports the budget's counts.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BudgetStats{Granted: b.granted, Throttle: b.backoffs, Waiting: len(b.waiters)}
}
