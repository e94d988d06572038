package output

import (
	"strings"
	"testing"
	"time"
)

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
	ios, _, out, errOut := Test()
	ios.SetStderrTTY(true)
	p := ios.NewWaitProgress("text2img 42")
	p.Update(time.Second, 5*time.Second, "waiting for webhook")
	if !strings.Contains(errOut.String(), "text2img 42 · waiting for webhook") {
		t.Errorf("bar not drawn on stderr: %q", errOut)
	}
	// Longer than eta: the bar grows rather than finishing.
	p.Update(8*time.Second, 5*time.Second, "polling")
	p.mu.Lock()
	grown, finished := p.max, p.bar.IsFinished()
	p.mu.Unlock()
	if grown <= 8*waitScale || finished {
		t.Errorf("max = %d, finished = %v after exceeding eta", grown, finished)
	}
	p.Done()
	p.Done() // twice is fine
	p.Update(9*time.Second, 5*time.Second, "polling")
	if out.Len() != 0 {
		t.Errorf("progress on stdout: %q", out)
	}
	if !strings.HasSuffix(errOut.String(), "\x1b[2K\r") {
		t.Errorf("Done did not clear the line: %q", errOut)
	}
}

func TestWaitProgressSpinnerOnTTY(t *testing.T) {
	ios, _, out, errOut := Test()
	ios.SetStderrTTY(true)
	p := ios.NewWaitProgress("img2video 7")
	p.Update(0, 0, "waiting")
	p.Update(time.Second, 0, "polling")
	p.mu.Lock()
	spinner := p.spinner
	p.mu.Unlock()
	if !spinner {
		t.Error("eta 0 should give a spinner")
	}
	// An eta arriving later switches to a bar.
	p.Update(2*time.Second, 10*time.Second, "polling")
	p.mu.Lock()
	spinner = p.spinner
	p.mu.Unlock()
	if spinner {
		t.Error("eta > 0 should give a bar")
	}
	p.Done()
	if errOut.Len() == 0 || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
}

func TestWaitProgressNilIsNoOp(t *testing.T) {
	var p *WaitProgress
	p.Update(time.Second, time.Second, "x")
	p.Done()
}

func TestMessagesClearActiveBar(t *testing.T) {
	ios, _, _, errOut := Test()
	ios.SetStderrTTY(true)
	p := ios.NewWaitProgress("job")
	p.Update(time.Second, 5*time.Second, "polling")
	errOut.Reset()
	ios.Warnf("tunnel down")
	if !strings.HasPrefix(errOut.String(), "\r\x1b[2K") {
		t.Errorf("message over a bar should erase it first: %q", errOut)
	}
	p.Done()
	errOut.Reset()
	ios.Infof("plain")
	if errOut.String() != "plain\n" {
		t.Errorf("got %q", errOut)
	}
}
