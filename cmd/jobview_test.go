package cmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

func viewFactory() (*Factory, *bytes.Buffer, *bytes.Buffer) {
	ios, _, out, errOut := output.Test()
	return NewFactory(ios, BuildInfo{Version: "t"}, func(string) string { return "" }), out, errOut
}

// Each batch job ends with one line naming its input line and a short
// prompt, safe for the terminal; its result goes to stdout.
func TestBatchUIPerJobLines(t *testing.T) {
	f, out, errOut := viewFactory()
	ep, _ := api.Lookup("text2img")
	ui := newBatchUI(f, "b-1", 3, false)
	defer ui.stop()
	ui.Totals(runner.Totals{Jobs: 3, Succeeded: 1})

	j := &runner.Job{Endpoint: ep, Line: 3, Body: map[string]any{"prompt": "a blue whale\nswimming in a \x1b[31mred sea at night"}}
	ui.Finished(j, &runner.Outcome{ID: "134701499", Endpoint: "text2img", Status: runner.StatusSuccess, Files: []string{"out/134701499-0.png"}, Elapsed: 2100 * time.Millisecond}, nil)
	j4 := &runner.Job{Endpoint: ep, Line: 4, Body: map[string]any{"prompt": "x"}}
	failed := &job.FailedError{ID: "134701500", Response: &api.Response{Status: "failed", Message: "NSFW"}}
	ui.Finished(j4, &runner.Outcome{ID: "134701500", Status: runner.StatusFailed}, failed)
	j5 := &runner.Job{Endpoint: ep, Line: 5, Body: map[string]any{}}
	ui.Finished(j5, nil, errors.New("submit text2img: HTTP 400"))

	if got := out.String(); got != "out/134701499-0.png\n" {
		t.Errorf("stdout %q", got)
	}
	want := "✓ line 3 \"a blue whale swimming i…\" 134701499 in 2.1s · 1 file\n" +
		"! line 4 \"x\": job 134701500 failed: NSFW\n" +
		"! line 5: submit text2img: HTTP 400\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(errOut.String(), "\x1b") {
		t.Errorf("an escape reached the terminal: %q", errOut)
	}
}

func TestShortText(t *testing.T) {
	for in, want := range map[string]string{
		"a blue whale": "a blue whale", "  spaced   out\tprompt ": "spaced out prompt",
		"abcdefghijklmnopqrstuvwxyz": "abcdefghijklmnopqrstuvw…", strings.Repeat("é", 25): strings.Repeat("é", 23) + "…",
	} {
		if got := shortText(in, 24); got != want {
			t.Errorf("shortText(%q) = %q, want %q", in, got, want)
		}
	}
}

// A training shows its stage with its place in the order, and its new log
// lines, one each, instead of "webhook received".
func TestSingleUIStagesAndLogs(t *testing.T) {
	f, _, errOut := viewFactory()
	ep, _ := api.Lookup("lora_fine_tune")
	ui := newSingleUI(f)
	j := &runner.Job{Endpoint: ep, ID: "F5jvdzGnYi"}
	ui.Submitted(j, 0, "")
	ui.Progress(j, job.Progress{Phase: "webhook received", Stage: "deploying_model", StageIndex: 7, StageCount: 8, Elapsed: time.Second,
		Log: []string{"Step:5 Deploying Model, 1 Steps to go", "evil \x1b[2J"}})
	ui.Progress(j, job.Progress{Phase: "polling", Stage: "deploying_model", StageIndex: 7, StageCount: 8, Elapsed: 2 * time.Second})
	ui.Finished(j, nil, nil)
	want := "submitted lora_fine_tune job F5jvdzGnYi (eta unknown)\n" +
		"lora_fine_tune F5jvdzGnYi: deploying_model 7/8 (1.0s)\n" +
		"  Step:5 Deploying Model, 1 Steps to go\n" +
		"  evil \\x1b[2J\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr\n%q\nwant\n%q", got, want)
	}
}

// In a pipe a retry is one line, not one per second; so is an API
// client's retry (showRetry) and a runner's queue retry.
func TestSingleUIRetryLines(t *testing.T) {
	f, _, errOut := viewFactory()
	ep, _ := api.Lookup("text2img")
	ui := newSingleUI(f)
	j := &runner.Job{Endpoint: ep, ID: "7"}
	ui.Submitted(j, 5, "")
	ui.Progress(j, job.Progress{Phase: "retrying", Reason: "HTTP 503", RetryIn: 1500 * time.Millisecond})
	f.showRetry(api.RetryEvent{Op: "submit text2img", Attempt: 1, Wait: 2 * time.Second, Reason: "rate limited"})
	ui.Notice(j, runner.Notice{Text: "queue full, retrying in 4s", Retry: "queue full", Wait: 4 * time.Second})
	ui.Finished(j, nil, nil)
	want := "submitted text2img job 7 (eta 5s)\n" +
		"HTTP 503, retrying in 2s\n" +
		"rate limited, retrying in 2s\n" +
		"queue full, retrying in 4s\n"
	if got := errOut.String(); got != want {
		t.Errorf("stderr\n%q\nwant\n%q", got, want)
	}
}

// On a terminal the wait's live line is erased before the download's
// starts: one live line at a time.
func TestSingleUIDownloadEndsTheWaitLine(t *testing.T) {
	f, _, errOut := viewFactory()
	f.IO.SetStderrTTY(true)
	f.IO.SetColorEnabled(false)
	ep, _ := api.Lookup("text2img")
	ui := newSingleUI(f)
	j := &runner.Job{Endpoint: ep, ID: "7"}
	ui.Submitted(j, 5, "")
	ui.Progress(j, job.Progress{Phase: "polling", Elapsed: time.Second, ETA: 5 * time.Second})
	ui.Progress(j, job.Progress{Phase: "downloading"})
	n := len(errOut.String())
	ui.Progress(j, job.Progress{Phase: "polling", Elapsed: 2 * time.Second, ETA: 5 * time.Second}) // late: ignored
	ui.Finished(j, nil, nil)
	got := errOut.String()
	if !strings.HasSuffix(got[:n], "\r\x1b[2K") || len(got) != n {
		t.Errorf("the wait line was not erased for good before the download: %q", got)
	}
	if !strings.Contains(got, "text2img 7 · polling") {
		t.Errorf("no wait line drawn: %q", got)
	}
}
