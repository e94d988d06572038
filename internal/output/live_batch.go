package output

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// BatchProgress is the aggregate line of a batch on the live line: a bar
// of the jobs the batch is done with (not of time), the counts, and an
// estimate of the time left that moves smoothly (see [BatchETA]). Like
// [WaitProgress] it is drawn only on a terminal, redraws itself until
// Done, and a nil *BatchProgress does nothing.
type BatchProgress struct {
	s     *IOStreams
	total int

	mu       sync.Mutex
	clock    clock
	eta      *BatchETA
	ended    int
	failed   int
	inFlight int
	done     bool
}

// NewBatchProgress returns the display of a batch of total jobs; nothing
// is drawn until the first Update.
func (s *IOStreams) NewBatchProgress(total int) *BatchProgress {
	if !s.IsStderrTTY() {
		return &BatchProgress{s: s, total: total, done: true}
	}
	return &BatchProgress{s: s, total: total, eta: NewBatchETA(total, time.Now())}
}

// Update says how the batch stands: ended jobs (succeeded, failed or
// otherwise done with), of them failed, and inFlight being waited for.
func (p *BatchProgress) Update(ended, failed, inFlight int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	if ended > p.ended {
		p.eta.Ended(ended, time.Now())
	}
	p.ended, p.failed, p.inFlight = max(ended, p.ended), failed, inFlight
	live := p.clock.line(p.s, p.render, nil)
	p.mu.Unlock()
	live.Redraw()
}

func (p *BatchProgress) render(width int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	spin := spinnerAt(now)
	counts := fmt.Sprintf("%d/%d done", p.ended, p.total)
	detail := counts
	if p.failed > 0 {
		detail += fmt.Sprintf(" · %d failed", p.failed)
	}
	detail += fmt.Sprintf(" · %d in flight", p.inFlight)
	left := ""
	if d, ok := p.eta.Left(now); ok {
		left = " · ~" + FormatWait(d) + " left"
	}
	share := 0.0
	if p.total > 0 {
		share = float64(p.ended) / float64(p.total)
	}
	pct := fmt.Sprintf("%3d%%", int(share*100))
	head := spin + " batch "
	tail := " " + pct + " " + detail + left
	if bw := min(width-ansi.StringWidth(head)-ansi.StringWidth(tail), 30); bw >= 8 {
		return head + bar(share, bw) + tail
	}
	return fit(width,
		strings.TrimSpace(head+detail+left),
		head+counts+left,
		spin+" "+counts,
	)
}

// Done erases the line and stops its clock; safe to call more than once.
func (p *BatchProgress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	p.done = true
	c := p.clock
	p.mu.Unlock()
	c.end()
}

// BatchETA estimates the time a batch has left from when its jobs end.
//
// The pace is a moving average (exponentially weighted, see etaWeight) of
// the time between two jobs ending, so that one quick or slow job moves it
// a little, not all the way. The estimate is a finish time, not a number
// of seconds: between two ends the time left counts down with the clock
// instead of standing still, and at each end the finish time moves only
// part of the way (etaPull) towards the new estimate, so it never jumps.
// It is not safe for concurrent use.
type BatchETA struct {
	total    int
	ended    int
	last     time.Time     // when the last job ended (the batch's start at first)
	interval time.Duration // the moving average between two ends
	finish   time.Time     // the estimated end of the batch; zero: no estimate yet
}

const (
	// etaWeight is the weight of the newest interval in the average.
	etaWeight = 0.2
	// etaPull is how far the finish time moves towards a new estimate at
	// each end.
	etaPull = 0.3
)

// NewBatchETA starts the estimate of a batch of total jobs begun at start.
func NewBatchETA(total int, start time.Time) *BatchETA {
	return &BatchETA{total: total, last: start}
}

// Ended records that ended jobs (a running count) are done with, at now.
func (e *BatchETA) Ended(ended int, now time.Time) {
	if e == nil || ended <= e.ended {
		return
	}
	n := ended - e.ended
	gap := now.Sub(e.last) / time.Duration(n) // several at once share the gap
	for range n {
		if e.interval == 0 {
			e.interval = gap
		} else {
			e.interval = time.Duration(etaWeight*float64(gap) + (1-etaWeight)*float64(e.interval))
		}
	}
	e.ended, e.last = ended, now
	target := now.Add(time.Duration(max(e.total-e.ended, 0)) * e.interval)
	if e.finish.IsZero() || e.ended >= e.total {
		e.finish = target
		return
	}
	e.finish = e.finish.Add(time.Duration(etaPull * float64(target.Sub(e.finish))))
}

// Left is the time the batch has left at now, when there is an estimate
// (after the first end, before the last one; never negative).
func (e *BatchETA) Left(now time.Time) (time.Duration, bool) {
	if e == nil || e.finish.IsZero() || e.ended >= e.total {
		return 0, false
	}
	return max(e.finish.Sub(now), 0), true
}
