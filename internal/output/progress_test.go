package output

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// frames splits what was written to a terminal stderr into the live
// line's frames, in order (the text drawn after each carriage return,
// erase sequences removed); lines ending in a newline are left out.
func frames(out string) []string {
	var fs []string
	for _, piece := range strings.Split(out, "\r") {
		if strings.Contains(piece, "\n") {
			continue
		}
		for _, seq := range []string{"\x1b[K", "\x1b[2K", "\x1b[1A"} {
			piece = strings.ReplaceAll(piece, seq, "")
		}
		if piece != "" {
			fs = append(fs, piece)
		}
	}
	return fs
}

var pctRE = regexp.MustCompile(`(\d+)%`)

// syncBuf is a buffer safe for the live line's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuf) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// ttyStreams are test streams whose stderr is a terminal (colour off).
func ttyStreams() (*IOStreams, *bytes.Buffer, *syncBuf) {
	ios, _, out, _ := Test()
	errOut := &syncBuf{}
	ios.ErrOut = errOut
	ios.SetStderrTTY(true)
	ios.SetColorEnabled(false)
	return ios, out, errOut
}

func TestWaitProgressOffTTYWritesNothing(t *testing.T) {
	ios, _, out, errOut := Test()
	p := ios.NewWaitProgress("text2img 42")
	p.Update(time.Second, 5*time.Second, "waiting for webhook")
	p.Update(2*time.Second, 0, "polling")
	p.Done()
	p.Done()
	if out.Len() != 0 || errOut.Len() != 0 {
		t.Errorf("off a terminal: stdout %q, stderr %q", out, errOut)
	}
}

func TestWaitProgressBarOnTTY(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, out, errOut := ttyStreams()
		p := ios.NewWaitProgress("text2img 42")
		p.Update(time.Second, 5*time.Second, "waiting for webhook")
		if !strings.Contains(errOut.String(), "text2img 42 · waiting for webhook 1.0s / ~5.0s") || !strings.Contains(errOut.String(), " 20%") {
			t.Errorf("bar not drawn on stderr: %q", errOut)
		}
		p.Done()
		p.Done() // twice is fine
		p.Update(9*time.Second, 5*time.Second, "polling")
		if out.Len() != 0 {
			t.Errorf("progress on stdout: %q", out)
		}
		if !strings.HasSuffix(errOut.String(), "\r\x1b[2K") {
			t.Errorf("Done did not clear the line: %q", errOut)
		}
	})
}

// Past the eta the bar never goes back: it turns into "overdue" with the
// time elapsed, whatever the elapsed times reported (the job's clock lags
// the display's).
func TestWaitProgressMonotonicThenOverdue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		p := ios.NewWaitProgress("text2img 42")
		eta := 5 * time.Second
		p.Update(0, eta, "waiting")
		for i := range 60 {
			time.Sleep(150 * time.Millisecond)
			if i%7 == 0 {
				// A report from the wait, whose elapsed lags behind.
				p.Update(time.Duration(i)*100*time.Millisecond, eta, "polling")
			}
		}
		p.Done()
		last, overdue := -1, false
		for _, f := range frames(errOut.String()) {
			if strings.Contains(f, "overdue") {
				overdue = true
				if !strings.Contains(f, "(eta 5.0s)") || pctRE.MatchString(f) {
					t.Errorf("overdue frame %q", f)
				}
				continue
			}
			if overdue {
				t.Fatalf("a bar again after overdue: %q", f)
			}
			m := pctRE.FindStringSubmatch(f)
			if m == nil {
				t.Fatalf("frame without a percentage: %q", f)
			}
			n, _ := strconv.Atoi(m[1])
			if n < last || n > 99 {
				t.Fatalf("percentage %d after %d: %q", n, last, f)
			}
			last = n
		}
		if !overdue || last < 90 {
			t.Errorf("overdue %v, last percentage %d", overdue, last)
		}
	})
}

func TestWaitProgressSpinnerOnTTY(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, out, errOut := ttyStreams()
		p := ios.NewWaitProgress("img2video 7")
		p.Update(0, 0, "waiting")
		time.Sleep(time.Second)
		p.Update(time.Second, 0, "polling")
		p.Done()
		fs := frames(errOut.String())
		if len(fs) < 3 || pctRE.MatchString(strings.Join(fs, "")) {
			t.Errorf("spinner frames: %q", fs)
		}
		if !strings.Contains(fs[len(fs)-1], "img2video 7 · polling 1.0s") || out.Len() != 0 {
			t.Errorf("stdout %q, frames %q", out, fs)
		}
	})
}

// Every frame fits in the terminal's width minus one, at any width, and
// the width is measured again on every redraw.
func TestWaitProgressFitsEveryWidth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		var width atomic.Int64
		ios.SetTerminalWidth(func() int { return int(width.Load()) })
		p := ios.NewWaitProgress("lora_fine_tune F5jvdzGnYiAbCdEf")
		for _, w := range []int{160, 120, 80, 60, 40, 30, 20, 12, 5, 1, 200} {
			// The clock ticks at the instant each Sleep ends: let that
			// redraw finish at the old width before the window changes.
			synctest.Wait()
			width.Store(int64(w))
			errOut.Reset()
			p.Update(3*time.Second, 10*time.Second, "deploying_model 7/8")
			time.Sleep(time.Second)
			p.Update(12*time.Second, 10*time.Second, "deploying_model 7/8")
			time.Sleep(time.Second)
			fs := frames(errOut.String())
			if len(fs) == 0 && w > 1 {
				t.Fatalf("width %d: nothing drawn", w)
			}
			for _, f := range fs {
				if n := ansi.StringWidth(f); n > max(w-1, 0) {
					t.Errorf("width %d: frame of %d columns: %q", w, n, f)
				}
			}
		}
		p.Done()
	})
}

func TestWaitProgressNilIsNoOp(t *testing.T) {
	var p *WaitProgress
	p.Update(time.Second, time.Second, "x")
	p.Done()
}

func TestMessagesClearActiveBar(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		p := ios.NewWaitProgress("job")
		p.Update(time.Second, 5*time.Second, "polling")
		errOut.Reset()
		ios.Warnf("tunnel down")
		got := errOut.String()
		if !strings.HasPrefix(got, "\r\x1b[2K! tunnel down\n") {
			t.Errorf("message over a bar should erase it first: %q", got)
		}
		if _, after, _ := strings.Cut(got, "\n\r"); !strings.Contains(after, " job · polling") {
			t.Errorf("the bar is not drawn again below the message: %q", got)
		}
		p.Done()
		errOut.Reset()
		ios.Infof("plain")
		if errOut.String() != "plain\n" {
			t.Errorf("got %q", errOut)
		}
	})
}

func TestByteProgressFitsAndNeverGoesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ios, _, errOut := ttyStreams()
		var width atomic.Int64
		width.Store(100)
		ios.SetTerminalWidth(func() int { return int(width.Load()) })
		b := newByteProgress(ios, true, 2)
		b.expect(1000)
		for range 5 {
			time.Sleep(200 * time.Millisecond)
			b.add(150, true)
		}
		b.expect(1000) // the second file: the total doubles
		for _, w := range []int{100, 50, 30, 10} {
			width.Store(int64(w))
			time.Sleep(200 * time.Millisecond)
			b.add(100, true)
		}
		b.done()
		b.done()
		last := -1
		for _, f := range frames(errOut.String()) {
			if m := pctRE.FindStringSubmatch(f); m != nil {
				n, _ := strconv.Atoi(m[1])
				if n < last {
					t.Errorf("percentage %d after %d: %q", n, last, f)
				}
				last = n
			}
			if ansi.StringWidth(f) > 99 {
				t.Errorf("frame too wide: %q", f)
			}
		}
		if !strings.Contains(errOut.String(), "downloading 2 files") || !strings.HasSuffix(errOut.String(), "\r\x1b[2K") {
			t.Errorf("stderr %q", errOut)
		}
	})
}
