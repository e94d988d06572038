package cmd

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

// The views of job commands: they render the runner's events on stderr and
// its outcomes on stdout.

// noticeOf renders a runner notice on stderr.
func noticeOf(f *Factory, n runner.Notice) {
	if n.Warn {
		f.IO.Warnf("%s", output.Safe(f.redact(n.Text)))
	} else {
		f.IO.Infof("%s", output.Safe(f.redact(n.Text)))
	}
}

// singleUI shows one job's wait: a line when submitted, stage lines, and a
// progress bar on a terminal.
type singleUI struct {
	f        *Factory
	progress *output.WaitProgress
	mu       sync.Mutex
	name, id string
	eta      time.Duration
	phase    string
	stage    string
	start    time.Time
	stop     chan struct{}
	stopped  chan struct{}
}

func newSingleUI(f *Factory) *singleUI {
	return &singleUI{f: f, phase: "waiting"}
}

func (u *singleUI) Submitted(j *runner.Job, eta float64, waitingFor string) {
	if e := j.Entry; e != nil && !e.SubmittedAt.IsZero() {
		u.f.IO.Infof("resuming %s job %s (submitted %s ago)", e.Endpoint, output.Safe(e.ID), output.FormatDuration(time.Since(e.SubmittedAt)))
	}
	u.f.IO.Infof("submitted %s job %s (eta %s)%s", j.Endpoint.Name, output.Safe(j.ID), output.FormatSeconds(eta), waitingFor)
	u.mu.Lock()
	u.name, u.id, u.eta, u.start = j.Endpoint.Name, j.ID, time.Duration(max(eta, 0)*float64(time.Second)), time.Now()
	u.progress = u.f.IO.NewWaitProgress(j.Endpoint.Name + " " + output.Safe(j.ID))
	stop, stopped := make(chan struct{}), make(chan struct{})
	u.stop, u.stopped = stop, stopped
	u.mu.Unlock()
	go u.tick(stop, stopped)
}

// tick redraws the progress bar until stop is closed.
func (u *singleUI) tick(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			u.mu.Lock()
			if u.progress != nil {
				u.progress.Update(time.Since(u.start), u.eta, u.phase)
			}
			u.mu.Unlock()
		}
	}
}

func (u *singleUI) Progress(_ *runner.Job, p job.Progress) {
	u.mu.Lock()
	u.phase = p.Phase
	newStage := p.Stage != "" && p.Stage != u.stage
	if p.Stage != "" {
		u.stage = p.Stage
	}
	if u.progress != nil {
		u.progress.Update(p.Elapsed, p.ETA, p.Phase)
	}
	name, id := u.name, u.id
	u.mu.Unlock()
	if newStage {
		// Training stages and workflow states are worth a line of their
		// own, on a terminal or not.
		u.f.IO.Infof("%s %s: %s (%s)", name, output.Safe(id), output.Safe(p.Stage), output.FormatDuration(p.Elapsed))
	}
}

func (u *singleUI) Notice(_ *runner.Job, n runner.Notice) { noticeOf(u.f, n) }

func (u *singleUI) Finished(*runner.Job, *runner.Outcome, error) { u.done() }

// done stops the progress bar; it is idempotent.
func (u *singleUI) done() {
	u.mu.Lock()
	stop, stopped, progress := u.stop, u.stopped, u.progress
	u.stop, u.progress = nil, nil
	u.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	progress.Done()
}

// batchUI prints each batch job as it ends and draws one aggregate
// progress line on a terminal.
type batchUI struct {
	runner.NopObserver // a job's own submit and progress are not shown
	f                  *Factory
	batchID            string
	json               bool
	total              int
	start              time.Time

	mu       sync.Mutex
	t        runner.Totals
	progress *output.WaitProgress
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func newBatchUI(f *Factory, batchID string, total int, asJSON bool) *batchUI {
	u := &batchUI{f: f, batchID: batchID, json: asJSON, total: total, start: time.Now(),
		progress: f.IO.NewWaitProgress("batch"), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(u.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-u.quit:
				return
			case <-t.C:
				u.draw()
			}
		}
	}()
	return u
}

func (u *batchUI) draw() {
	u.mu.Lock()
	defer u.mu.Unlock()
	elapsed := time.Since(u.start)
	var eta time.Duration
	if ended := u.t.Ended(); ended > 0 {
		eta = time.Duration(float64(elapsed) * float64(u.total) / float64(ended))
	}
	u.progress.Update(elapsed, eta, fmt.Sprintf("%d/%d done · %d failed · %d in flight", u.t.Succeeded, u.total, u.t.Failed+u.t.Errors, u.t.InFlight))
}

func (u *batchUI) Totals(t runner.Totals) {
	u.mu.Lock()
	u.t = t
	u.mu.Unlock()
}

func (u *batchUI) Notice(_ *runner.Job, n runner.Notice) { noticeOf(u.f, n) }

// Finished prints one batch job: its result on stdout (paths/URLs, or one
// JSON object with the input line), problems on stderr.
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
	switch {
	case u.json:
		u.f.printResult(res, true, errText)
	case err == nil:
		u.f.printResult(res, false, "")
	case o != nil && o.Status == runner.StatusProcessing:
		fmt.Fprintln(ios.Out, output.Safe(res.ID))
	}
	if err != nil {
		ios.Warnf("line %d: %s", j.Line, output.Safe(u.f.redact(err.Error())))
	}
}

func (u *batchUI) stop() {
	u.stopOnce.Do(func() {
		close(u.quit)
		<-u.done
		u.progress.Done()
	})
}
