package output

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestLiveOffTTYIsNil(t *testing.T) {
	ios, _, _, errOut := Test()
	l := ios.NewLive(func(int) string { return "x" })
	if l != nil {
		t.Fatal("a live line off a terminal")
	}
	l.Redraw()
	l.Close()
	ios.HideLive()()
	ios.Resized()
	if errOut.Len() != 0 {
		t.Errorf("stderr %q", errOut)
	}
}

// The newest display owns the line; the one below is not drawn until it
// closes, then drawn again at once.
func TestLiveOneLineAtATime(t *testing.T) {
	ios, _, errOut := ttyStreams()
	wait := ios.NewLive(func(int) string { return "waiting" })
	wait.Redraw()
	dl := ios.NewLive(func(int) string { return "downloading" })
	dl.Redraw()
	wait.Redraw() // not the owner: nothing
	dl.Redraw()   // the same frame: nothing
	dl.Close()
	wait.Close()
	wait.Close()
	want := "\rwaiting\x1b[K" + "\rdownloading\x1b[K" + "\r\x1b[2K" + "\rwaiting\x1b[K" + "\r\x1b[2K"
	if got := errOut.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// A frame is cut to the width minus one, measured at every redraw; when
// the window shrank under a frame, the rows the terminal re-wrapped it
// onto are erased first.
func TestLiveResize(t *testing.T) {
	ios, _, errOut := ttyStreams()
	var width atomic.Int64
	width.Store(160)
	ios.SetTerminalWidth(func() int { return int(width.Load()) })
	long := strings.Repeat("x", 300)
	var asked []int
	l := ios.NewLive(func(w int) string { asked = append(asked, w); return long })
	l.Redraw()
	if got := errOut.String(); got != "\r"+strings.Repeat("x", 158)+"…\x1b[K" {
		t.Fatalf("at 160 columns: %q", got)
	}
	errOut.Reset()
	width.Store(60)
	ios.Resized() // SIGWINCH
	// 159 columns on a 60-column terminal are three rows: the cursor is on
	// the third; two rows up are erased before the new frame.
	want := "\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\x1b[2K\r" + strings.Repeat("x", 58) + "…\x1b[K"
	if got := errOut.String(); got != want {
		t.Errorf("after the resize: %q\nwant %q", got, want)
	}
	errOut.Reset()
	width.Store(100) // growing needs no unwinding
	l.Redraw()
	if got := errOut.String(); got != "\r"+strings.Repeat("x", 98)+"…\x1b[K" {
		t.Errorf("after growing: %q", got)
	}
	l.Close()
	if len(asked) != 3 || asked[0] != 159 || asked[1] != 59 || asked[2] != 99 {
		t.Errorf("render asked for %v columns", asked)
	}
}

func TestLiveInterruptErasesForGood(t *testing.T) {
	ios, _, errOut := ttyStreams()
	l := ios.NewLive(func(int) string { return "polling" })
	l.Redraw()
	ios.InterruptLive() // what SIGINT does
	l.Redraw()
	ios.Infof("interrupted")
	l.Close()
	if got := errOut.String(); got != "\rpolling\x1b[K\r\x1b[2Kinterrupted\n" {
		t.Errorf("got %q", got)
	}
}

func TestHideLiveForStdout(t *testing.T) {
	ios, _, errOut := ttyStreams()
	l := ios.NewLive(func(int) string { return "batch" })
	l.Redraw()
	resume := ios.HideLive()
	l.Redraw() // hidden: nothing
	resume()
	resume()
	l.Close()
	if got := errOut.String(); got != "\rbatch\x1b[K\r\x1b[2K\rbatch\x1b[K\r\x1b[2K" {
		t.Errorf("got %q", got)
	}
}

func TestRetryStatusInAPipe(t *testing.T) {
	ios, _, _, errOut := Test()
	ios.RetryStatus("rate limited", 1500*time.Millisecond)
	ios.RetryStatus("HTTP 503", 2*time.Minute+3*time.Second)
	if got := errOut.String(); got != "rate limited, retrying in 2s\nHTTP 503, retrying in 2m03s\n" {
		t.Errorf("got %q", got)
	}
}

// On a terminal a retry counts down in the live line, over the display
// that owns it or alone, and goes away when it is due.
func TestRetryStatusOnTTY(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		ios.RetryStatus("unreachable", 2*time.Second)
		time.Sleep(3 * time.Second)
		fs := frames(errOut.String())
		if len(fs) < 2 || !strings.HasSuffix(fs[0], " unreachable, retrying in 2s") || !strings.HasSuffix(fs[len(fs)-1], "retrying in 1s") {
			t.Errorf("frames %q", fs)
		}
		if !strings.HasSuffix(errOut.String(), "\r\x1b[2K") {
			t.Errorf("the status was not taken away: %q", errOut)
		}

		errOut.Reset()
		p := ios.NewWaitProgress("text2img 42")
		p.Update(time.Second, 0, "polling")
		ios.RetryStatus("rate limited", time.Second)
		time.Sleep(2 * time.Second)
		p.Done()
		got := strings.Join(frames(errOut.String()), "\n")
		if !strings.Contains(got, "rate limited, retrying in 1s · ⠋ text2img 42 · polling") && !strings.Contains(got, "rate limited, retrying in 1s · ") {
			t.Errorf("the status is not shown over the wait: %q", got)
		}
		if last := frames(errOut.String()); strings.Contains(last[len(last)-1], "rate limited") {
			t.Errorf("the status stayed: %q", last)
		}
	})
}

func TestFormatWait(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1s", 300 * time.Millisecond: "1s", time.Second: "1s", 1001 * time.Millisecond: "2s",
		59 * time.Second: "59s", 65 * time.Second: "1m05s",
	} {
		if got := FormatWait(d); got != want {
			t.Errorf("FormatWait(%s) = %q, want %q", d, got, want)
		}
	}
}

// With colour on a cut frame ends with a reset; frames never hold a
// newline, so no colour runs past one.
func TestLiveColourReset(t *testing.T) {
	ios, _, errOut := ttyStreams()
	ios.SetColorEnabled(true)
	ios.SetTerminalWidth(func() int { return 20 })
	l := ios.NewLive(func(int) string { return "\x1b[33m" + strings.Repeat("y", 40) + "\x1b[0m" })
	l.Redraw()
	l.Close()
	got := errOut.String()
	if !strings.Contains(got, "…\x1b[0m\x1b[K") || strings.Contains(got, "\n") {
		t.Errorf("got %q", got)
	}
}

// NO_COLOR: nothing but erase sequences on the line, even overdue.
func TestWaitProgressNoColor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t.Setenv("NO_COLOR", "1")
		ios, _, _, _ := Test()
		errOut := &syncBuf{}
		ios.ErrOut = errOut
		ios.SetStderrTTY(true)
		p := ios.NewWaitProgress("text2img 42")
		p.Update(3*time.Second, time.Second, "polling")
		p.Done()
		if got := errOut.String(); !strings.Contains(got, "overdue") || strings.Contains(got, "\x1b[3") {
			t.Errorf("got %q", got)
		}
	})
}

// The batch bar counts the jobs that ended, not time.
func TestBatchProgressCountsJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		ios.SetTerminalWidth(func() int { return 100 })
		p := ios.NewBatchProgress(10)
		p.Update(0, 0, 4)
		time.Sleep(5 * time.Second)
		first := frames(errOut.String())
		if f := first[len(first)-1]; !strings.Contains(f, "  0% 0/10 done · 4 in flight") || strings.Contains(f, "left") {
			t.Errorf("after 5s and no job: %q", f)
		}
		p.Update(3, 1, 4)
		fs := frames(errOut.String())
		if f := fs[len(fs)-1]; !strings.Contains(f, " 30% 3/10 done · 1 failed · 4 in flight · ~") {
			t.Errorf("3 of 10: %q", f)
		}
		p.Done()
		if !strings.HasSuffix(errOut.String(), "\r\x1b[2K") {
			t.Errorf("not erased: %q", errOut)
		}
		ios2, _, _, errOut2 := Test()
		q := ios2.NewBatchProgress(2)
		q.Update(1, 0, 1)
		q.Done()
		if errOut2.Len() != 0 {
			t.Errorf("off a terminal: %q", errOut2)
		}
	})
}

// The time left counts down between two ends and moves only part of the
// way at each, so it never jumps, even when the pace changes.
func TestBatchETAMovingAverage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		e := NewBatchETA(20, start)
		if _, ok := e.Left(start); ok {
			t.Fatal("an estimate before any job ended")
		}
		// Jobs end every 2s, then one takes 10s (a straggler), then
		// every 2s again.
		gaps := []time.Duration{2, 2, 2, 2, 10, 2, 2, 2, 2, 2}
		var prev time.Duration
		ended := 0
		for i, g := range gaps {
			// Between two ends the estimate only counts down.
			for range int(g) {
				time.Sleep(time.Second)
				if left, ok := e.Left(time.Now()); ok && left > prev {
					t.Fatalf("end %d: the time left grew between ends: %s after %s", i, left, prev)
				} else if ok {
					prev = left
				}
			}
			ended++
			e.Ended(ended, time.Now())
			left, ok := e.Left(time.Now())
			if !ok {
				t.Fatalf("no estimate after %d ends", ended)
			}
			if i > 0 {
				// A 10s gap among 2s ones: a naive remaining×last-gap
				// estimate would jump by 8s×remaining (over a minute).
				if jump := left - prev; jump > 10*time.Second || jump < -10*time.Second {
					t.Errorf("end %d: the estimate jumped by %s (to %s)", i, jump, left)
				}
			}
			prev = left
		}
		// 10 left at a pace near 2-3s: roughly 20-35s.
		if prev < 15*time.Second || prev > 45*time.Second {
			t.Errorf("time left %s after 10 of 20", prev)
		}
		e.Ended(20, time.Now())
		if _, ok := e.Left(time.Now()); ok {
			t.Error("an estimate after the last job")
		}
	})
}
