package cmd

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/jsonfilter"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/webhook"
)

// How much listen's terminal writers hold for a terminal that is not
// reading, and how long the last of it may take to go out at the end.
const (
	maxPendingStdout = 1 << 20
	maxPendingStderr = 64 << 10
	flushIdle        = 300 * time.Millisecond // no progress for this long: give up
	flushMax         = 2 * time.Second        // and never longer than this
)

// maxShownField bounds each untrusted field of a human line (status, id,
// track_id): the JSON line carries them whole.
const maxShownField = 200

// listenView renders the listen engine's events (webhook.Observer): one
// JSON line or one human line per delivery on stdout, warnings on stderr.
// Every untrusted string in a human line goes through output.Safe (JSON
// lines are exact JSON). It writes through termWriters, so a terminal
// that stops reading slows the engine down (stdout: back-pressure) or
// loses warnings (stderr), but never keeps mlab from exiting.
type listenView struct {
	ios     *output.IOStreams
	json    bool // JSON lines: --json, or stdout is not a terminal
	verbose bool
	filter  *jsonfilter.Filter // --jq, --template: applied to each JSON line

	out, err *termWriter
}

func newListenView(ios *output.IOStreams, asJSON, verbose bool) *listenView {
	return &listenView{
		ios: ios, json: asJSON || !ios.IsStdoutTTY(), verbose: verbose,
		out: newTermWriter(ios.Out, maxPendingStdout),
		err: newTermWriter(ios.ErrOut, maxPendingStderr),
	}
}

// writeOut writes a delivery's text to stdout, waiting while stdout is
// behind (until the view is closed).
func (v *listenView) writeOut(text string) { v.out.write(text, true) }

// infof and warnf are IOStreams.Infof and Warnf through the view's
// stderr writer: a line that does not fit is lost, not waited for.
func (v *listenView) infof(format string, a ...any) {
	v.err.write(fmt.Sprintf(format, a...)+"\n", false)
}

func (v *listenView) warnf(format string, a ...any) {
	v.err.write(v.ios.Styles().Warn.Render("!")+" "+fmt.Sprintf(format, a...)+"\n", false)
}

// close flushes what is pending, within flushIdle of no progress (and
// flushMax in all), and says on stderr what stdout could not take.
func (v *listenView) close() {
	if lost := v.out.close(flushIdle, flushMax); lost > 0 {
		v.warnf("%s not written to stdout: nothing was reading it", output.Plural(lost, "line", "lines"))
	}
	v.err.close(flushIdle, flushMax)
}

// shown makes an untrusted field fit for a terminal.
func shown(s string) string { return output.Safe(webhook.Clip(s, maxShownField)) }

// Delivered shows a delivery: its JSON line, or its human line.
func (v *listenView) Delivered(p *webhook.Processed) {
	if v.json && v.filter != nil {
		text, err := v.filter.Text(p.Line, v.ios.IsStdoutTTY())
		if err != nil {
			v.warnf("%s (delivery at %s); listening goes on", output.Safe(err.Error()), p.Delivery.ReceivedAt.Format(time.TimeOnly))
			return
		}
		v.writeOut(text)
		return
	}
	if v.json {
		v.writeOut(string(p.Line))
		return
	}
	v.writeOut(v.humanLine(p))
}

// humanLine renders one delivery for a terminal:
//
//	15:04:05  --> success  generation  id 134701497  track_id mlab-1f..  412 B  duplicate
func (v *listenView) humanLine(p *webhook.Processed) string {
	st := v.ios.Styles()
	d, sum := p.Delivery, p.Summary
	var b strings.Builder
	b.WriteString(st.Muted.Render(d.ReceivedAt.Format(time.TimeOnly)))
	b.WriteString("  " + st.Muted.Render("-->") + " ")
	b.WriteString(deliveryStatusStyle(st, sum.Status).Render(fmt.Sprintf("%-10s", cmp.Or(shown(sum.Status), "-"))))
	b.WriteString(" " + st.Bold.Render(fmt.Sprintf("%-10s", sum.Kind)))
	if sum.ID != "" {
		b.WriteString("  id " + st.ID.Render(shown(sum.ID)))
	}
	if sum.TrackID != "" {
		b.WriteString("  track_id " + st.ID.Render(shown(sum.TrackID)))
	}
	b.WriteString("  " + st.Muted.Render(output.FormatBytes(int64(len(d.Body)))))
	if p.Duplicate {
		b.WriteString("  " + st.Warn.Render("duplicate"))
	}
	b.WriteString("\n")
	if v.verbose {
		v.verboseLines(&b, d)
	}
	return b.String()
}

// verboseLines adds a delivery's request line, headers and pretty body.
func (v *listenView) verboseLines(b *strings.Builder, d webhook.Delivery) {
	st := v.ios.Styles()
	b.WriteString(st.Muted.Render(fmt.Sprintf("    %s %s from %s", output.Safe(d.Method), output.Safe(d.Path), output.Safe(d.RemoteAddr))) + "\n")
	h := webhook.FlattenHeaders(d.Header)
	for _, k := range slices.Sorted(maps.Keys(h)) {
		b.WriteString("    " + st.Muted.Render(output.Safe(k)+":") + " " + output.Safe(h[k]) + "\n")
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, d.Body, "    ", "  ") == nil {
		b.WriteString("    " + output.SafeLines(pretty.String()) + "\n")
	}
}

func deliveryStatusStyle(st *output.Styles, status string) interface{ Render(...string) string } {
	switch strings.ToLower(status) {
	case "success", "completed", "trained", "succeeded", "deployed":
		return st.Success
	case "failed", "error", "cancelled", "canceled":
		return st.Error
	case "":
		return st.Muted
	}
	return st.Warn
}

// Rejected reports a request the listener refused; listening goes on. Its
// path is percent-decoded (so an escape sent as %1b is one here) and
// clipped by the engine.
func (v *listenView) Rejected(r webhook.Rejection) {
	v.warnf("%s %s from %s answered %d: %s", output.Safe(r.Method), output.Safe(r.Path), output.Safe(r.RemoteAddr), r.Status, output.Safe(r.Reason))
}

// RejectedMany sums up the rejections not reported one by one.
func (v *listenView) RejectedMany(s webhook.RejectionSummary) {
	if s.Busy > 0 {
		v.warnf("%s refused with 503 (busy: try again): mlab could not keep up; the senders may retry", deliveryCount(s.Busy))
	}
	if n := s.Others(); n > 0 {
		v.warnf("%d more rejected (%s)", n, s.Statuses())
	}
}

// Forwarded shows the app's answer to a forwarded delivery (called from
// the forward workers): on stdout with the human lines, on stderr beside
// JSON lines (stdout is for those). It never waits for the terminal.
func (v *listenView) Forwarded(r webhook.ForwardResult) {
	what := output.Safe(r.Summary.Describe())
	if r.Err != nil {
		v.warnf("<-- forwarding %s to %s failed: %s; listening goes on", what, output.Safe(r.URL), output.Safe(r.Err.Error()))
		return
	}
	st := v.ios.Styles()
	code := fmt.Sprintf("[%d]", r.Status)
	if r.Status >= 200 && r.Status < 300 {
		code = st.Success.Render(code)
	} else {
		code = st.Error.Render(code)
	}
	line := fmt.Sprintf("%s  %s %s POST %s  %s  %s", st.Muted.Render(time.Now().Format(time.TimeOnly)), st.Muted.Render("<--"), code, output.Safe(r.URL), what, st.Muted.Render(output.FormatLatency(r.Elapsed)))
	if v.json {
		v.infof("%s", line)
		return
	}
	v.out.write(line+"\n", false)
}

// ProcessFailed reports a delivery that could not be shown.
func (v *listenView) ProcessFailed(d webhook.Delivery, err error) {
	v.warnf("delivery at %s: %s", d.ReceivedAt.Format(time.TimeOnly), output.Safe(err.Error()))
}

// RecordFailed reports that recording stopped.
func (v *listenView) RecordFailed(err error) {
	v.warnf("%s; not recording any more, listening goes on", output.Safe(err.Error()))
}

// Stopped sums the run up on stderr.
func (v *listenView) Stopped(s webhook.Stats) {
	if s.Abandoned > 0 {
		v.warnf("%s not forwarded: the app did not answer within %s of stopping", deliveryCount(s.Abandoned), s.DrainBound)
	}
	if s.Unprocessed > 0 {
		v.warnf("%s answered but neither shown, recorded nor forwarded: mlab stopped before it could take them", deliveryCount(s.Unprocessed))
	}
	if s.PastCount > 0 {
		v.warnf("%s arrived after --count was reached: answered, not shown or recorded", deliveryCount(s.PastCount))
	}
	busy := ""
	if s.Busy > 0 {
		busy = fmt.Sprintf(", %d refused busy", s.Busy)
	}
	st := v.ios.Styles()
	v.infof("%s %s (%d duplicate, %d rejected%s)", st.Muted.Render("Stopped after"), deliveryCount(s.Deliveries), s.Duplicates, s.Rejected, busy)
}

// termWriter writes to a terminal stream (stdout, stderr) from a goroutine
// of its own, holding at most max bytes for it: a caller either waits for
// room (stdout's deliveries: back-pressure) or loses its text (warnings),
// and once the writer is closed nobody waits any more. A text larger than
// max still goes when nothing is pending.
type termWriter struct {
	w   io.Writer
	max int

	mu       sync.Mutex
	cond     sync.Cond
	pending  []string
	size     int
	closed   bool
	lost     int   // texts not written: no room, or closed first
	progress int64 // bytes written so far
	done     chan struct{}
}

func newTermWriter(w io.Writer, max int) *termWriter {
	t := &termWriter{w: w, max: max, done: make(chan struct{})}
	t.cond.L = &t.mu
	go t.run()
	return t
}

// write queues s; with wait it waits for room (until close), else it
// loses s when there is none. It reports whether s was queued.
func (t *termWriter) write(s string, wait bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for wait && !t.closed && t.size > 0 && t.size+len(s) > t.max {
		t.cond.Wait()
	}
	if t.closed || (t.size > 0 && t.size+len(s) > t.max) {
		t.lost++
		return false
	}
	t.pending = append(t.pending, s)
	t.size += len(s)
	t.cond.Broadcast()
	return true
}

// run writes what is pending, in order, in pieces of at most 32 KiB so
// that close can see progress, until closed and flushed.
func (t *termWriter) run() {
	defer close(t.done)
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		for len(t.pending) == 0 && !t.closed {
			t.cond.Wait()
		}
		if len(t.pending) == 0 {
			return
		}
		s := t.pending[0]
		piece := s[:min(len(s), 32<<10)]
		t.mu.Unlock()
		io.WriteString(t.w, piece)
		t.mu.Lock()
		if len(piece) == len(s) {
			t.pending = t.pending[1:]
		} else {
			t.pending[0] = s[len(piece):]
		}
		t.size -= len(piece)
		t.progress += int64(len(piece))
		t.cond.Broadcast()
	}
}

// close stops taking texts and waits for the pending ones to be written
// while the terminal takes them: it gives up after idle without progress,
// or after most in all. It returns how many texts were lost, those it gave
// up on included.
func (t *termWriter) close(idle, most time.Duration) (lost int) {
	t.mu.Lock()
	t.closed = true
	t.cond.Broadcast()
	t.mu.Unlock()
	end := time.NewTimer(most)
	defer end.Stop()
	tick := time.NewTicker(idle)
	defer tick.Stop()
	t.mu.Lock()
	last := t.progress
	t.mu.Unlock()
	for {
		select {
		case <-t.done:
			return t.lostCount(false)
		case <-end.C:
			return t.lostCount(true)
		case <-tick.C:
			t.mu.Lock()
			p := t.progress
			t.mu.Unlock()
			if p == last {
				return t.lostCount(true)
			}
			last = p
		}
	}
}

func (t *termWriter) lostCount(givenUp bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if givenUp {
		return t.lost + len(t.pending)
	}
	return t.lost
}
