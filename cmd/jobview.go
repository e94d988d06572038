package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

// The views of job commands: they render the runner's events on stderr and
// its outcomes on stdout. On a terminal one live line at a time shows where
// things stand (see output's live line); in a pipe only plain lines are
// written.

// noticeOf renders a runner notice on stderr: a retry as a passing status
// (in the live line on a terminal, one line elsewhere), anything else as a
// line of its own.
func noticeOf(f *Factory, n runner.Notice) {
	switch {
	case n.Retry != "":
		f.IO.RetryStatus(f.redact(n.Retry), n.Wait)
	case n.Warn:
		f.IO.Warnf("%s", output.Safe(f.redact(n.Text)))
	default:
		f.IO.Infof("%s", output.Safe(f.redact(n.Text)))
	}
}

// showRetry is the API client's retry notification (api.WithRetryNotify):
// a 429 backoff, a retried 5xx or an unreachable API shows one status
// ("rate limited, retrying in 2s") instead of seconds of blank terminal.
func (f *Factory) showRetry(ev api.RetryEvent) {
	f.IO.RetryStatus(ev.Reason, ev.Wait)
}

// singleUI shows one job's wait: a line when submitted, stage lines (and
// a training's log lines), and the live wait line on a terminal, which
// ends before the download's starts.
type singleUI struct {
	f        *Factory
	mu       sync.Mutex
	progress *output.WaitProgress
	name, id string
	eta      time.Duration
	stage    string
}

func newSingleUI(f *Factory) *singleUI {
	return &singleUI{f: f}
}

func (u *singleUI) Submitted(j *runner.Job, eta float64, waitingFor string) {
	// mlab wait resumes a job: it never says "submitted".
	switch e := j.Entry; {
	case e != nil && !e.SubmittedAt.IsZero():
		u.f.IO.Infof("resuming %s job %s (submitted %s ago)%s", e.Endpoint, output.Safe(e.ID), output.FormatDuration(time.Since(e.SubmittedAt)), waitingFor)
	case e != nil:
		u.f.IO.Infof("waiting for %s job %s%s", j.Endpoint.Name, output.Safe(j.ID), waitingFor)
	default:
		u.f.IO.Infof("submitted %s job %s (eta %s)%s", j.Endpoint.Name, output.Safe(j.ID), output.FormatSeconds(eta), waitingFor)
	}
	u.mu.Lock()
	u.name, u.id, u.eta = j.Endpoint.Name, j.ID, time.Duration(max(eta, 0)*float64(time.Second))
	u.progress = u.f.IO.NewWaitProgress(j.Endpoint.Name + " " + output.Safe(j.ID))
	progress, est := u.progress, u.eta
	u.mu.Unlock()
	progress.Update(0, est, "waiting")
}

// stageText is a stage as shown: a training's with its place in the order
// ("deploying_model 7/8").
func stageText(p job.Progress) string {
	s := output.Safe(p.Stage)
	if p.StageIndex > 0 {
		s += fmt.Sprintf(" %d/%d", p.StageIndex, p.StageCount)
	}
	return s
}

func (u *singleUI) Progress(_ *runner.Job, p job.Progress) {
	if p.Phase == "downloading" {
		// One live line at a time: the wait's ends before the download
		// bar starts.
		u.done()
		return
	}
	u.mu.Lock()
	newStage := p.Stage != "" && p.Stage != u.stage
	if p.Stage != "" {
		u.stage = p.Stage
	}
	phase := p.Phase
	if p.Stage != "" {
		phase = stageText(p) // the job's own word says more than "webhook received"
	}
	progress, name, id, eta := u.progress, u.name, u.id, u.eta
	u.mu.Unlock()
	progress.Update(p.Elapsed, max(p.ETA, eta), phase)
	if p.Phase == "retrying" && p.RetryIn > 0 {
		u.f.IO.RetryStatus(p.Reason, p.RetryIn)
	}
	if newStage {
		// Training stages and workflow states are worth a line of their
		// own, on a terminal or not.
		u.f.IO.Infof("%s %s: %s (%s)", name, output.Safe(id), stageText(p), output.FormatDuration(p.Elapsed))
	}
	for _, line := range p.Log {
		u.f.IO.Infof("  %s", output.Safe(u.f.redact(line)))
	}
}

func (u *singleUI) Notice(_ *runner.Job, n runner.Notice) { noticeOf(u.f, n) }

func (u *singleUI) Finished(*runner.Job, *runner.Outcome, error) { u.done() }

// done erases the wait line; it is idempotent.
func (u *singleUI) done() {
	u.mu.Lock()
	progress := u.progress
	u.mu.Unlock()
	progress.Done()
}

// batchUI prints each batch job as it ends (its result on stdout, one line
// naming its input line on stderr) and draws one aggregate line on a
// terminal: jobs done of the batch, with a smoothed estimate of the time
// left.
type batchUI struct {
	runner.NopObserver // a job's own submit and progress are not shown
	f                  *Factory
	batchID            string
	json               bool
	progress           *output.BatchProgress
	stopOnce           sync.Once
}

func newBatchUI(f *Factory, batchID string, total int, asJSON bool) *batchUI {
	return &batchUI{f: f, batchID: batchID, json: asJSON, progress: f.IO.NewBatchProgress(total)}
}

func (u *batchUI) Totals(t runner.Totals) {
	u.progress.Update(t.Ended(), t.Failed+t.Errors+t.Unknown, t.InFlight)
}

func (u *batchUI) Notice(_ *runner.Job, n runner.Notice) { noticeOf(u.f, n) }

// Finished prints one batch job: its result on stdout (paths/URLs, or one
// JSON object with the input line), and on stderr a line naming its input
// line and prompt (`✓ line 3 "a blue whale…" 134701499 in 2.1s`), or its
// problem.
func (u *batchUI) Finished(j *runner.Job, o *runner.Outcome, err error) {
	ios := u.f.IO
	err = usageOf(err)
	var res *output.Result
	if o != nil {
		res = u.f.result(o)
	} else {
		res = &output.Result{Endpoint: j.Endpoint.Name, TrackID: j.TrackID, Status: string(runner.StatusError), Message: u.f.redact(err.Error()), BatchID: u.batchID, Line: j.Line}
		if errors.As(err, new(*runner.SubmitUnknownError)) {
			res.Status = "unknown" // it may have made a job
		}
	}
	errText := ""
	if _, partial := downloadDir(err); partial {
		errText = u.f.redact(err.Error())
	}
	// Standard output shares the terminal: not glued to the live line.
	resume := ios.HideLive()
	switch {
	case u.json:
		u.f.printResult(res, true, errText)
	case err == nil:
		printBatchOutputs(ios.Out, res)
	case o != nil && o.Status == runner.StatusProcessing:
		fmt.Fprintln(ios.Out, output.Safe(res.ID))
	}
	resume()
	which := batchLineName(j)
	switch {
	case err != nil:
		ios.Warnf("%s: %s", which, output.Safe(u.f.redact(err.Error())))
	case o.Status == runner.StatusSuccess:
		ios.Successf("%s %s in %s%s", which, output.Safe(o.ID), output.FormatDuration(o.Elapsed), filesNote(res))
	default:
		ios.Infof("• %s %s %s", which, output.Safe(o.ID), output.Safe(string(o.Status)))
	}
}

// printBatchOutputs writes a finished batch job's result for people: one
// line per downloaded file, else per output URL, else its model id.
func printBatchOutputs(w io.Writer, res *output.Result) {
	lines := res.Files
	if len(lines) == 0 {
		lines = res.Output
	}
	if len(lines) == 0 && res.ModelID != "" {
		lines = []string{res.ModelID}
	}
	for _, l := range lines {
		fmt.Fprintln(w, output.Safe(l))
	}
}

// filesNote is " · 2 files" for a job with downloaded files.
func filesNote(res *output.Result) string {
	if len(res.Files) == 0 {
		return ""
	}
	return " · " + output.Plural(len(res.Files), "file", "files")
}

// batchLineName names a batch job for people: `line 3 "a blue whale…"`
// (the prompt shortened and made safe for the terminal), or `line 3`.
func batchLineName(j *runner.Job) string {
	name := fmt.Sprintf("line %d", j.Line)
	if p, _ := j.Body["prompt"].(string); strings.TrimSpace(p) != "" {
		name += ` "` + output.Safe(shortText(p, 24)) + `"`
	}
	return name
}

// shortText is s on one line, cut to at most n characters with "…".
func shortText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func (u *batchUI) stop() {
	u.stopOnce.Do(u.progress.Done)
}
