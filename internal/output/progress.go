package output

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// WaitProgress shows that mlab is waiting for a job, on the live line (see
// live.go): a time bar filling towards the API's eta, a spinner when there
// is none, and past the eta an "overdue" display with the time elapsed —
// the bar never goes back. It is drawn only on a terminal standard error;
// elsewhere every method is a no-op. A nil *WaitProgress is valid and does
// nothing. Always call Done.
type WaitProgress struct {
	s     *IOStreams
	label string

	mu      sync.Mutex
	clock   clock
	start   time.Time     // when the wait began (elapsed counts from it)
	eta     time.Duration // 0: none
	phase   string
	pct     int  // the highest percentage shown (it never goes down)
	overdue bool // the eta has passed: no more bar
	done    bool
	now     func() time.Time
}

// NewWaitProgress returns a progress display for one job, labelled with
// label (e.g. "text2img 134701497"). Nothing is drawn until the first
// [WaitProgress.Update]; from then on it redraws itself (its clock runs)
// until Done. It draws nothing when standard error is not a terminal;
// callers in --json or --quiet mode should not create one (or use a nil
// *WaitProgress).
func (s *IOStreams) NewWaitProgress(label string) *WaitProgress {
	if !s.IsStderrTTY() {
		return &WaitProgress{s: s, label: label, done: true}
	}
	return &WaitProgress{s: s, label: label, now: time.Now}
}

// Update says where the wait stands: elapsed is the time since submit, eta
// the API's estimate (0 when unknown) and phase what is happening
// ("waiting", "polling", a training stage "deploying_model 7/8", ...). The
// display keeps its own clock from then on: an elapsed smaller than the
// one already shown never moves it back.
func (p *WaitProgress) Update(elapsed, eta time.Duration, phase string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return
	}
	now := p.now()
	if p.start.IsZero() || now.Sub(p.start) < elapsed {
		p.start = now.Add(-elapsed)
	}
	p.eta, p.phase = max(eta, 0), phase
	live := p.clock.line(p.s, p.render, nil)
	p.mu.Unlock()
	live.Redraw()
}

// render is the frame for width columns (the live line calls it).
func (p *WaitProgress) render(width int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	elapsed := now.Sub(p.start)
	spin := spinnerAt(now)
	label := p.label
	if p.phase != "" {
		label += " · " + p.phase
	}
	short := lastWord(p.label) // the job id
	if p.eta > 0 && elapsed >= p.eta {
		p.overdue = true
	}
	switch {
	case p.overdue:
		// Past the eta a bar could only guess: say how late it is.
		od := p.s.Styles().Warn.Render("overdue")
		el := FormatDuration(elapsed)
		return fit(width,
			fmt.Sprintf("%s %s · %s %s (eta %s)", spin, label, od, el, FormatDuration(p.eta)),
			fmt.Sprintf("%s %s · %s %s (eta %s)", spin, short, od, el, FormatDuration(p.eta)),
			fmt.Sprintf("%s %s · %s %s", spin, short, od, el),
			fmt.Sprintf("%s %s %s", spin, od, el),
		)
	case p.eta > 0:
		// Below 100 until the eta passes, and never lower than shown.
		p.pct = max(p.pct, min(int(100*elapsed/p.eta), 99))
		times := FormatDuration(elapsed) + " / ~" + FormatDuration(p.eta)
		pct := fmt.Sprintf("%3d%%", p.pct)
		head := fmt.Sprintf("%s %s %s ", spin, label, times)
		if bw := min(width-ansi.StringWidth(head)-len(pct)-1, 30); bw >= 8 {
			return head + bar(float64(p.pct)/100, bw) + " " + pct
		}
		return fit(width,
			head+pct,
			fmt.Sprintf("%s %s %s %s", spin, short, times, pct),
			fmt.Sprintf("%s %s %s", spin, short, pct),
			fmt.Sprintf("%s %s", spin, pct),
		)
	default:
		el := FormatDuration(elapsed)
		return fit(width,
			fmt.Sprintf("%s %s %s", spin, label, el),
			fmt.Sprintf("%s %s %s", spin, short, el),
			fmt.Sprintf("%s %s", spin, el),
		)
	}
}

// Done erases the display and stops its clock. It is safe to call more
// than once and on nil; Update does nothing afterwards.
func (p *WaitProgress) Done() {
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

// fit returns the first candidate that fits in width columns, else the
// last one (the live line cuts it).
func fit(width int, candidates ...string) string {
	for _, c := range candidates {
		if ansi.StringWidth(c) <= width {
			return c
		}
	}
	return candidates[len(candidates)-1]
}

// bar draws share (0 to 1) of a bar of width cells.
func bar(share float64, width int) string {
	share = min(max(share, 0), 1)
	full := int(share * float64(width))
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

// lastWord is the last space-separated word of s.
func lastWord(s string) string {
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		return s[i+1:]
	}
	return s
}

// byteProgress is the aggregate byte display of one [Download] call, on
// the live line. A nil or disabled byteProgress does nothing.
//
// The total is learnt as responses arrive (each announces its length, or
// -1 when unknown): with every length known it is a bar, else a byte count
// with a spinner. The percentage shown never goes down, even when a later
// response makes the total grow.
type byteProgress struct {
	s       *IOStreams
	enabled bool
	files   int

	mu      sync.Mutex
	clock   clock // its clock keeps a stalled download's line alive (its rate falls)
	total   int64 // sum of the known lengths
	unknown bool  // some response had no length
	written int64
	pct     int
	start   time.Time
	drawn   time.Time
	stopped bool
}

func newByteProgress(s *IOStreams, enabled bool, files int) *byteProgress {
	return &byteProgress{s: s, enabled: enabled, files: files}
}

// expect announces one response of size bytes (-1 when unknown).
func (b *byteProgress) expect(size int64) {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	if size >= 0 {
		b.total += size
	} else {
		b.unknown = true
	}
	if b.start.IsZero() {
		b.start = time.Now()
	}
	live := b.clock.line(b.s, b.render, func() {
		b.mu.Lock()
		b.drawn = time.Now()
		b.mu.Unlock()
	})
	b.drawn = time.Now()
	b.mu.Unlock()
	live.Redraw()
}

// add records n bytes written.
func (b *byteProgress) add(n int64, _ bool) {
	if b == nil || !b.enabled || n <= 0 {
		return
	}
	b.mu.Lock()
	if b.stopped || b.clock.live == nil {
		b.mu.Unlock()
		return
	}
	b.written += n
	draw := time.Since(b.drawn) >= 100*time.Millisecond
	if draw {
		b.drawn = time.Now()
	}
	live := b.clock.live
	b.mu.Unlock()
	if draw {
		live.Redraw()
	}
}

// render is the frame for width columns.
func (b *byteProgress) render(width int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	what := "downloading " + Plural(b.files, "file", "files")
	got := FormatBytes(b.written)
	rate := ""
	if el := now.Sub(b.start); el >= 500*time.Millisecond {
		rate = FormatBytes(int64(float64(b.written)/el.Seconds())) + "/s"
	}
	if b.unknown || b.total <= 0 {
		return fit(width,
			strings.TrimSpace(fmt.Sprintf("%s %s %s %s", spinnerAt(now), what, got, rate)),
			fmt.Sprintf("%s %s %s", spinnerAt(now), what, got),
			fmt.Sprintf("%s %s", spinnerAt(now), got),
		)
	}
	b.pct = max(b.pct, min(int(100*b.written/b.total), 100))
	pct := fmt.Sprintf("%3d%%", b.pct)
	sizes := got + " / " + FormatBytes(b.total)
	tail := " " + pct + " " + sizes
	if rate != "" {
		tail += " · " + rate
	}
	if bw := min(width-len(what)-1-ansi.StringWidth(tail), 30); bw >= 8 {
		return what + " " + bar(float64(b.pct)/100, bw) + tail
	}
	return fit(width,
		what+tail,
		what+" "+pct+" "+sizes,
		"downloading "+pct+" "+sizes,
		"downloading "+pct,
		pct,
	)
}

// done erases the line. Safe to call more than once.
func (b *byteProgress) done() {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	c := b.clock
	b.mu.Unlock()
	c.end()
}
