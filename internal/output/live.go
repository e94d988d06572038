package output

import (
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// The live line: the one line at the bottom of a terminal standard error
// that progress displays redraw in place. There is at most one per
// IOStreams, whoever draws it:
//
//   - Every frame is measured against the terminal's width at the moment
//     it is drawn (re-queried on each redraw, and at once on SIGWINCH) and
//     cut to width-1 columns, so it never wraps.
//   - When the window shrank under a frame already drawn, the rows the
//     terminal reflowed it onto are erased first (terminals and tmux
//     re-wrap long lines on resize), so a resize leaves no fragments.
//   - Displays stack: the newest [Live] owns the line, the others are not
//     drawn until it closes (a download bar replaces a wait line, never
//     fights it).
//   - A message printed with [IOStreams.Infof], Warnf or Successf first
//     erases the line, then the line is drawn again below it.
//   - Ctrl-C (SIGINT) erases the line before anything else can be printed,
//     and nothing is drawn on it afterwards.
//   - A retry ([IOStreams.RetryStatus]) is shown in the line, counting
//     down, instead of seconds of blank terminal.
//
// Off a terminal nothing of this is drawn: [IOStreams.NewLive] returns
// nil, whose methods do nothing.

// liveRedraw is how often displays with a clock (spinners, elapsed times)
// redraw themselves.
const liveRedraw = 200 * time.Millisecond

// clock is a live display's line and the clock that redraws it every
// liveRedraw from the display's first draw until it is done: the one
// lifecycle of WaitProgress, BatchProgress and a download's bar. Its owner
// guards it with its own lock.
type clock struct {
	live          *Live
	stop, stopped chan struct{}
}

// line returns the live line, making it (for render) and starting its
// clock on the first call; every tick calls onTick (nil: none), then
// redraws. Call it under the owner's lock.
func (c *clock) line(s *IOStreams, render func(int) string, onTick func()) *Live {
	if c.live == nil {
		c.live = s.NewLive(render)
		c.stop, c.stopped = make(chan struct{}), make(chan struct{})
		go tick(c.live, c.stop, c.stopped, onTick)
	}
	return c.live
}

func tick(live *Live, stop <-chan struct{}, stopped chan<- struct{}, onTick func()) {
	defer close(stopped)
	t := time.NewTicker(liveRedraw)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if onTick != nil {
				onTick()
			}
			live.Redraw()
		}
	}
}

// end stops the clock and erases the line (nothing when it never
// started). Call it on a copy taken under the owner's lock, not holding
// the lock: a tick may be waiting for it.
func (c clock) end() {
	if c.stop != nil {
		close(c.stop)
		<-c.stopped
	}
	c.live.Close()
}

// spinnerFrames are the frames of every spinner.
var spinnerFrames = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// spinnerAt is the spinner's frame at t (it turns every 100ms, so all
// spinners of a process agree).
func spinnerAt(t time.Time) string {
	return string(spinnerFrames[(t.UnixMilli()/100)%int64(len(spinnerFrames))])
}

// liveState is the live line of one IOStreams; guarded by IOStreams.errMu.
type liveState struct {
	stack  []*Live // open displays; the last one owns the line
	frame  string  // the owner's last frame, uncut (redrawn after a message)
	shown  int     // columns of what is on screen now (0: nothing)
	drawn  string  // exactly what was last drawn (to skip identical frames)
	drawnW int     // the width it was drawn at
	paused int     // HideLive calls not yet resumed
	frozen bool    // interrupted: never draw again

	status      string    // a retry's reason, shown before the frame
	statusUntil time.Time // when the retry happens
	statusGen   int       // which RetryStatus call the status is from

	watchStop chan struct{} // closes the signal watcher; nil when none
}

// Live is one display's claim on the live line. Create it with
// [IOStreams.NewLive]; a nil *Live is valid and does nothing.
type Live struct {
	s      *IOStreams
	render func(width int) string
}

// NewLive opens a display on the live line, drawn by render: given the
// columns available it returns one line of text (no newline; control
// characters only for colour, and only when colour is on). A frame wider
// than asked is cut. The new display owns the line until it is closed;
// nothing is drawn before [Live.Redraw]. It returns nil when standard
// error is not a terminal.
func (s *IOStreams) NewLive(render func(width int) string) *Live {
	if s == nil || !s.IsStderrTTY() {
		return nil
	}
	l := &Live{s: s, render: render}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.live.frozen {
		return l
	}
	s.live.stack = append(s.live.stack, l)
	if s.live.watchStop == nil {
		s.live.watchStop = make(chan struct{})
		go s.watchSignals(s.live.watchStop)
	}
	return l
}

// Redraw renders the display and draws it, if it owns the line. Call it
// without holding any lock that render takes.
func (l *Live) Redraw() {
	if l == nil {
		return
	}
	s := l.s
	w := s.TerminalWidth()
	s.errMu.Lock()
	owner := s.live.top() == l
	prefix := s.statusLocked(time.Now())
	s.errMu.Unlock()
	if !owner {
		return
	}
	text := l.render(max(w-1-ansi.StringWidth(prefix), 0))
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.live.top() != l {
		return
	}
	s.live.frame = text
	s.drawLocked()
}

// Close erases the display's line (if it owned it) and gives the line back
// to the display below it, if any, which is drawn again at once. It is
// safe to call more than once.
func (l *Live) Close() {
	if l == nil {
		return
	}
	s := l.s
	s.errMu.Lock()
	i := s.live.index(l)
	if i < 0 {
		s.errMu.Unlock()
		return
	}
	wasOwner := i == len(s.live.stack)-1
	s.live.stack = append(s.live.stack[:i], s.live.stack[i+1:]...)
	var next *Live
	if wasOwner {
		s.live.frame = ""
		s.eraseLocked()
		next = s.live.top()
	}
	s.stopWatchLocked()
	s.errMu.Unlock()
	if next != nil {
		next.Redraw()
	} else if wasOwner {
		s.refreshStatus()
	}
}

// HideLive erases the live line until the returned function is called
// (then it is drawn again): for writing to standard output, which shares
// the terminal, without gluing the result to the line.
func (s *IOStreams) HideLive() (resume func()) {
	s.errMu.Lock()
	s.live.paused++
	s.eraseLocked()
	s.errMu.Unlock()
	done := false
	return func() {
		if done {
			return
		}
		done = true
		s.errMu.Lock()
		s.live.paused--
		s.drawLocked()
		s.errMu.Unlock()
	}
}

// InterruptLive erases the live line for good, as Ctrl-C does: for a
// command that stops (its context ended) before its displays close.
func (s *IOStreams) InterruptLive() {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.eraseLocked()
	s.live.frozen = true
}

// RetryStatus tells a person that something is retried after wait, for
// reason ("rate limited", "HTTP 503", "unreachable"): on a terminal in the
// live line, "rate limited, retrying in 2s" counting down (over the
// display that owns the line, or alone), elsewhere as one line on
// standard error.
func (s *IOStreams) RetryStatus(reason string, wait time.Duration) {
	reason = Safe(reason)
	if !s.IsStderrTTY() {
		s.Infof("%s, retrying in %s", reason, FormatWait(wait))
		return
	}
	s.errMu.Lock()
	if s.live.frozen {
		s.errMu.Unlock()
		return
	}
	s.live.status, s.live.statusUntil = reason, time.Now().Add(wait)
	s.live.statusGen++
	gen := s.live.statusGen
	s.errMu.Unlock()
	s.refreshStatus()
	go func() {
		// Count down, then take the status away.
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			s.errMu.Lock()
			current, until := s.live.statusGen == gen, s.live.statusUntil
			if current && !time.Now().Before(until) {
				s.live.status = ""
			}
			s.errMu.Unlock()
			if !current {
				return
			}
			s.refreshStatus()
			if !time.Now().Before(until) {
				return
			}
		}
	}()
}

// FormatWait formats how long until a retry, in whole seconds rounded up:
// "1s", "2s", "59s", then "1m05s".
func FormatWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", max(int(math.Ceil(d.Seconds())), 1))
	}
	return FormatDuration(d)
}

// refreshStatus redraws the line after the status changed: the owner's
// frame with it, or the status alone when no display is open.
func (s *IOStreams) refreshStatus() {
	s.errMu.Lock()
	top := s.live.top()
	if top == nil {
		s.drawLocked()
	}
	s.errMu.Unlock()
	if top != nil {
		top.Redraw()
	}
}

// statusLocked is the retry status prefix at now ("" when none).
func (s *IOStreams) statusLocked(now time.Time) string {
	if s.live.status == "" || !now.Before(s.live.statusUntil) {
		return ""
	}
	return s.live.status + ", retrying in " + FormatWait(s.live.statusUntil.Sub(now))
}

// drawLocked draws the current frame (status first) on the line, cut to
// the terminal's width now; with nothing to show it erases the line.
func (s *IOStreams) drawLocked() {
	if s.live.frozen || s.live.paused > 0 {
		return
	}
	text := s.live.frame
	if st := s.statusLocked(time.Now()); st != "" {
		if text != "" {
			text = st + " · " + text
		} else {
			text = spinnerAt(time.Now()) + " " + st
		}
	}
	if text == "" {
		s.eraseLocked()
		return
	}
	w := s.TerminalWidth()
	text = cut(text, w-1, s.ColorEnabled())
	if text == s.live.drawn && w == s.live.drawnW && s.live.shown > 0 {
		return
	}
	var b strings.Builder
	s.unwindLocked(&b, w)
	b.WriteString("\r")
	b.WriteString(text)
	b.WriteString("\x1b[K")
	_, _ = s.ErrOut.Write([]byte(b.String()))
	s.live.shown, s.live.drawn, s.live.drawnW = max(ansi.StringWidth(text), 1), text, w
}

// eraseLocked erases whatever is on the live line and leaves the cursor at
// its start.
func (s *IOStreams) eraseLocked() {
	if s.live.shown == 0 {
		return
	}
	var b strings.Builder
	s.unwindLocked(&b, s.TerminalWidth())
	b.WriteString("\r\x1b[2K")
	_, _ = s.ErrOut.Write([]byte(b.String()))
	s.live.shown, s.live.drawn = 0, ""
}

// unwindLocked erases the rows above the cursor that the frame on screen
// now covers because the terminal became narrower than it (w columns) and
// re-wrapped it, leaving the cursor on its first row.
func (s *IOStreams) unwindLocked(b *strings.Builder, w int) {
	if s.live.shown == 0 || w <= 0 {
		return
	}
	rows := (s.live.shown + w - 1) / w
	if rows <= 1 {
		return
	}
	b.WriteString("\r\x1b[2K")
	for range rows - 1 {
		b.WriteString("\x1b[1A\x1b[2K")
	}
}

// cut makes text fit in w columns, ending with "…" when something was cut
// off; with colour on, a cut frame ends with a reset.
func cut(text string, w int, color bool) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(text) <= w {
		return text
	}
	text = ansi.Truncate(text, w, "…")
	if color && strings.Contains(text, "\x1b[") && !strings.HasSuffix(text, "\x1b[0m") {
		text += "\x1b[0m"
	}
	return text
}

func (ls *liveState) top() *Live {
	if len(ls.stack) == 0 {
		return nil
	}
	return ls.stack[len(ls.stack)-1]
}

func (ls *liveState) index(l *Live) int {
	for i, x := range ls.stack {
		if x == l {
			return i
		}
	}
	return -1
}

// stopWatchLocked stops the signal watcher once no display is open.
func (s *IOStreams) stopWatchLocked() {
	if len(s.live.stack) == 0 && s.live.watchStop != nil {
		close(s.live.watchStop)
		s.live.watchStop = nil
	}
}

// watchSignals erases the line on SIGINT and redraws it on SIGWINCH (see
// liveSignals) until stop is closed.
func (s *IOStreams) watchSignals(stop chan struct{}) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, liveSignals...)
	defer signal.Stop(ch)
	for {
		select {
		case <-stop:
			return
		case sig := <-ch:
			if sig == os.Interrupt {
				s.InterruptLive()
				continue
			}
			s.Resized()
		}
	}
}

// Resized redraws the live line at the terminal's new width (mlab calls
// it on SIGWINCH itself).
func (s *IOStreams) Resized() {
	s.errMu.Lock()
	top := s.live.top()
	if top == nil {
		s.drawLocked()
	}
	s.errMu.Unlock()
	top.Redraw()
}
