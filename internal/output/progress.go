package output

import (
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// waitScale is the number of bar units per second of a [WaitProgress]
// time bar: tenths of a second, so short jobs still fill smoothly.
const waitScale = 10

// barThrottle is the minimum time between two redraws of a bar.
const barThrottle = 100 * time.Millisecond

// WaitProgress shows that mlab is waiting for a job: a time bar filling
// towards the API's eta, or a spinner when there is none. It is drawn only
// on a terminal standard error; elsewhere every method is a no-op. A nil
// *WaitProgress is valid and does nothing. Always call Done.
type WaitProgress struct {
	s       *IOStreams
	label   string
	enabled bool

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	spinner bool      // the current bar is a spinner
	max     int64     // current max of a time bar, in 1/waitScale seconds
	phase   string    // phase last drawn
	drawn   time.Time // when the last update was drawn
	done    bool
}

// NewWaitProgress returns a progress display for one job, labelled with
// label (e.g. "text2img 134701497"). Nothing is drawn until the first
// [WaitProgress.Update]. It draws nothing when standard error is not a
// terminal; callers in --json or --quiet mode should not create one (or use
// a nil *WaitProgress).
func (s *IOStreams) NewWaitProgress(label string) *WaitProgress {
	return &WaitProgress{s: s, label: label, enabled: s.IsStderrTTY()}
}

// Update redraws the display: elapsed is the time since submit, eta the
// API's estimate (0 when unknown) and phase what mlab is doing ("waiting
// for webhook", "polling", ...). With eta > 0 it shows a time bar whose
// length is eta and which grows when the job takes longer; with eta == 0 a
// spinner. Redraws are throttled, so calling it often is cheap.
func (p *WaitProgress) Update(elapsed, eta time.Duration, phase string) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	wantSpinner := eta <= 0
	if p.bar != nil && p.spinner != wantSpinner {
		p.finishLocked() // the mode changed: replace the bar
	}
	// Throttle here rather than in progressbar (whose throttle could drop
	// the last frame of an update). A new phase is drawn at once.
	now := time.Now()
	if p.bar != nil && phase == p.phase && now.Sub(p.drawn) < barThrottle {
		return
	}
	p.phase, p.drawn = phase, now

	desc := p.label
	if phase != "" {
		if desc != "" {
			desc += " · "
		}
		desc += phase
	}
	if wantSpinner {
		desc += " " + FormatDuration(elapsed)
	} else {
		desc += " " + FormatDuration(elapsed) + " / ~" + FormatDuration(eta)
	}
	desc += " "

	if p.bar == nil {
		p.start(wantSpinner, eta, desc) // draws the first frame
	} else {
		p.bar.Describe(desc) // draws the new text
	}
	// Each call below draws only when the percentage changes, so the last
	// frame written always shows the current text and number.
	if !wantSpinner {
		cur := max(int64(elapsed*waitScale/time.Second), 0)
		// Never let the bar reach its max while waiting: progressbar
		// treats that as finished and stops drawing. Grow it by half.
		if cur >= p.max {
			p.max = cur + cur/2 + waitScale
			p.bar.ChangeMax64(p.max)
		}
		_ = p.bar.Set64(cur)
	}
}

// start creates the bar; p.mu is held.
func (p *WaitProgress) start(spinner bool, eta time.Duration, desc string) {
	total := int64(-1)
	if !spinner {
		total = max(int64(eta*waitScale/time.Second), 1)
	}
	width := min(max(p.s.TerminalWidth()-len([]rune(desc))-12, 10), 40)
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(lockedWriter{p.s}), // never the default os.Stdout
		progressbar.OptionSetVisibility(true),          // only created on a terminal
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(width),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionUseANSICodes(true),
	)
	p.spinner, p.max = spinner, total
	p.s.barStarted()
	_ = p.bar.RenderBlank()
}

// finishLocked clears and drops the current bar; p.mu is held.
func (p *WaitProgress) finishLocked() {
	if p.bar == nil {
		return
	}
	_ = p.bar.Finish() // with OptionClearOnFinish this erases the line
	p.bar = nil
	p.s.barStopped()
}

// Done erases the display. It is safe to call more than once and on nil;
// Update does nothing afterwards.
func (p *WaitProgress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
	p.done = true
}

// byteProgress is the aggregate byte bar of one [Download] call. A nil or
// disabled byteProgress does nothing.
//
// The total is learnt as responses arrive: the bar starts in the mode of
// the first response (a bar when it has a Content-Length, else a spinner).
// In bar mode the max is the sum of known lengths plus one, so the bar never
// reaches its max (and stops drawing) before done; bytes of files without
// a length are added to the max as they arrive.
type byteProgress struct {
	s       *IOStreams
	enabled bool
	files   int

	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	spinner bool
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
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	if b.bar == nil {
		b.start(size)
		return
	}
	if !b.spinner && size > 0 {
		b.bar.AddMax64(size)
	}
}

// start creates the bar; b.mu is held.
func (b *byteProgress) start(size int64) {
	total := int64(-1)
	if size >= 0 {
		total = size + 1
	}
	desc := "downloading " + Plural(b.files, "file", "files") + " "
	width := b.s.TerminalWidth() - len(desc) - 40
	width = min(max(width, 10), 40)
	b.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(lockedWriter{b.s}), // never the default os.Stdout
		progressbar.OptionSetVisibility(true),          // only created on a terminal
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(width),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionThrottle(barThrottle),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionUseANSICodes(true),
	)
	b.spinner = total < 0
	b.s.barStarted()
	_ = b.bar.RenderBlank()
}

// add records n bytes written for a file whose length was known or not.
func (b *byteProgress) add(n int64, known bool) {
	if b == nil || !b.enabled || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.bar == nil {
		return
	}
	if !b.spinner && !known {
		b.bar.AddMax64(n)
	}
	_ = b.bar.Add64(n)
}

// done erases the bar. Safe to call more than once.
func (b *byteProgress) done() {
	if b == nil || !b.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	b.stopped = true
	if b.bar != nil {
		_ = b.bar.Finish()
		b.s.barStopped()
	}
}
