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

	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/webhook"
)

// listenView renders the listen engine's events (webhook.Observer): one
// JSON line or one human line per delivery on stdout, warnings on stderr.
type listenView struct {
	ios     *output.IOStreams
	json    bool // JSON lines: --json, or stdout is not a terminal
	verbose bool

	outMu sync.Mutex // stdout: the processor and the forward workers write it
}

func newListenView(ios *output.IOStreams, asJSON, verbose bool) *listenView {
	return &listenView{ios: ios, json: asJSON || !ios.IsStdoutTTY(), verbose: verbose}
}

func (v *listenView) writeOut(text string) {
	v.outMu.Lock()
	defer v.outMu.Unlock()
	io.WriteString(v.ios.Out, text)
}

// Delivered shows a delivery: its JSON line, or its human line.
func (v *listenView) Delivered(p *webhook.Processed) {
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
	b.WriteString(deliveryStatusStyle(st, sum.Status).Render(fmt.Sprintf("%-10s", cmp.Or(sum.Status, "-"))))
	b.WriteString(" " + st.Bold.Render(fmt.Sprintf("%-10s", sum.Kind)))
	if sum.ID != "" {
		b.WriteString("  id " + st.ID.Render(sum.ID))
	}
	if sum.TrackID != "" {
		b.WriteString("  track_id " + st.ID.Render(sum.TrackID))
	}
	b.WriteString("  " + st.Muted.Render(output.FormatBytes(int64(len(d.Body)))))
	if p.Duplicate {
		b.WriteString("  " + st.Warn.Render("duplicate"))
	}
	b.WriteString("\n")
	if v.verbose {
		b.WriteString(st.Muted.Render(fmt.Sprintf("    %s %s from %s", d.Method, d.Path, d.RemoteAddr)) + "\n")
		h := webhook.FlattenHeaders(d.Header)
		for _, k := range slices.Sorted(maps.Keys(h)) {
			b.WriteString("    " + st.Muted.Render(k+":") + " " + h[k] + "\n")
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, d.Body, "    ", "  ") == nil {
			b.WriteString("    " + pretty.String() + "\n")
		}
	}
	return b.String()
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

// Rejected reports a request the listener refused; listening goes on.
func (v *listenView) Rejected(r webhook.Rejection) {
	v.ios.Warnf("%s %s from %s answered %d: %s", r.Method, r.Path, r.RemoteAddr, r.Status, r.Reason)
}

// Forwarded shows the app's answer to a forwarded delivery (called from
// the forward workers): on stdout with the human lines, on stderr beside
// JSON lines (stdout is for those).
func (v *listenView) Forwarded(r webhook.ForwardResult) {
	if r.Err != nil {
		v.ios.Warnf("<-- forwarding %s to %s failed: %v; listening goes on", r.Summary.Describe(), r.URL, r.Err)
		return
	}
	st := v.ios.Styles()
	code := fmt.Sprintf("[%d]", r.Status)
	if r.Status >= 200 && r.Status < 300 {
		code = st.Success.Render(code)
	} else {
		code = st.Error.Render(code)
	}
	line := fmt.Sprintf("%s  %s %s POST %s  %s  %s", st.Muted.Render(time.Now().Format(time.TimeOnly)), st.Muted.Render("<--"), code, r.URL, r.Summary.Describe(), st.Muted.Render(output.FormatLatency(r.Elapsed)))
	if v.json {
		v.ios.Infof("%s", line)
		return
	}
	v.writeOut(line + "\n")
}

// ProcessFailed reports a delivery that could not be shown.
func (v *listenView) ProcessFailed(d webhook.Delivery, err error) {
	v.ios.Warnf("delivery at %s: %v", d.ReceivedAt.Format(time.TimeOnly), err)
}

// RecordFailed reports that recording stopped.
func (v *listenView) RecordFailed(err error) {
	v.ios.Warnf("%v; not recording any more, listening goes on", err)
}

// ForwardSkipped reports a delivery the full forward queue did not take.
func (v *listenView) ForwardSkipped(p *webhook.Processed) {
	v.ios.Warnf("forward queue full: %s not forwarded", p.Summary.Describe())
}

// Stopped sums the run up on stderr.
func (v *listenView) Stopped(s webhook.Stats) {
	if s.Abandoned > 0 {
		v.ios.Warnf("%s not forwarded: the app did not answer within %s of stopping", deliveryCount(s.Abandoned), s.DrainBound)
	}
	if s.Dropped > 0 {
		v.ios.Warnf("%d deliveries were answered but could not be shown: mlab could not keep up", s.Dropped)
	}
	st := v.ios.Styles()
	v.ios.Infof("%s %s (%d duplicate, %d rejected)", st.Muted.Render("Stopped after"), deliveryCount(s.Deliveries), s.Duplicates, s.Rejected)
}
