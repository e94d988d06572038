package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/job"
	"github.com/mlabcli/mlab/internal/journal"
	"github.com/mlabcli/mlab/internal/output"
	"github.com/mlabcli/mlab/internal/runner"
)

// DefaultConcurrency is the ModelsLab pay-as-you-go queue limit.
const DefaultConcurrency = 5

// batchLine is one job of a --batch input.
type batchLine struct {
	n      int            // 1-based input line number
	fields map[string]any // request fields from the line
}

// readBatch reads --batch input: one prompt per line, or JSON objects of
// request fields. Blank lines and lines starting with # are skipped.
func readBatch(name string, stdin io.Reader, argField string) ([]batchLine, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, flagErrorf("--batch: %v", unwrapPathError(err))
		}
		defer f.Close()
		r = f
	}
	var lines []batchLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "{") {
			dec := json.NewDecoder(strings.NewReader(text))
			dec.UseNumber()
			var fields map[string]any
			if err := dec.Decode(&fields); err != nil {
				return nil, flagErrorf("--batch line %d: not a JSON object: %v", n, err)
			}
			lines = append(lines, batchLine{n: n, fields: fields})
			continue
		}
		if argField == "" {
			return nil, flagErrorf("--batch line %d: this command takes JSON lines of request fields, not plain text", n)
		}
		lines = append(lines, batchLine{n: n, fields: map[string]any{argField: text}})
	}
	if err := sc.Err(); err != nil {
		return nil, flagErrorf("--batch: %v", err)
	}
	if len(lines) == 0 {
		return nil, flagErrorf("--batch %s has no jobs (one prompt or JSON object per line)", name)
	}
	return lines, nil
}

func newBatchID() string {
	var b [6]byte
	rand.Read(b[:])
	return "b-" + hex.EncodeToString(b[:])
}

// runBatch runs every line of --batch as its own job through one session
// (one tunnel and listener, a token per job), at most --concurrency in
// flight, printing each result as it ends.
func runBatch(ctx context.Context, r *jobRun, argField string) error {
	f, o := r.f, r.opts
	lines, err := readBatch(o.Batch, f.IO.In, argField)
	if err != nil {
		return err
	}
	// Check every line before the first submit: a bad line 900 must not
	// surface after 899 paid jobs.
	jobs := make([]*oneJob, len(lines))
	for i, l := range lines {
		body := maps.Clone(r.body)
		maps.Copy(body, l.fields)
		inputs, err := prepareBody(r.ep, body)
		if err != nil {
			return flagErrorf("--batch line %d: %v", l.n, err)
		}
		jobs[i] = &oneJob{ep: r.ep, body: body, inputs: inputs, pathParams: r.pathParams, line: l.n}
	}
	s, err := openSession(ctx, f, o)
	if err != nil {
		return err
	}
	defer s.close()
	s.batchID = newBatchID()
	s.quietDownloads = true
	if err := s.writeManifest(r, jobs); err != nil {
		f.IO.Warnf("could not save the batch plan (%v): 'mlab wait --batch' can resume submitted jobs only", err)
	}
	f.IO.Infof("batch %s: %d jobs, %d at a time%s", s.batchID, len(jobs), o.Concurrency, s.recv.WaitingFor())
	return s.runMany(ctx, jobs, o.Concurrency, func(ctx context.Context, j *oneJob, ui jobUI) (*output.Result, error) {
		return s.run(ctx, j, ui)
	})
}

// runMany runs jobs through fn with at most n in flight, streams each
// result as it ends, and returns the batch's exit status.
func (s *session) runMany(ctx context.Context, jobs []*oneJob, n int, fn func(context.Context, *oneJob, jobUI) (*output.Result, error)) error {
	f, o := s.f, s.opts
	ui := newBatchUI(f, len(jobs))
	defer ui.stop()
	var (
		printMu sync.Mutex
		wg      sync.WaitGroup
		sem     = make(chan struct{}, max(n, 1))
	)
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break // stop submitting; running jobs see the cancel too
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jui := ui.begin()
			res, err := fn(ctx, j, jui)
			ui.finished(jui, res, err)
			printMu.Lock()
			defer printMu.Unlock()
			s.printBatchResult(j, res, err)
		}()
	}
	wg.Wait()
	ui.stop()

	st := ui.snapshot()
	notStarted := len(jobs) - st.started
	summary := fmt.Sprintf("batch %s: %d succeeded, %d failed", s.batchID, st.succeeded, st.failed)
	if st.submitted > 0 {
		summary = fmt.Sprintf("batch %s: %d submitted", s.batchID, st.submitted)
	}
	if st.unfinished > 0 {
		summary += fmt.Sprintf(", %d still running", st.unfinished)
	}
	if st.errors > 0 {
		summary += fmt.Sprintf(", %d errors", st.errors)
	}
	if notStarted > 0 {
		summary += fmt.Sprintf(", %d not submitted", notStarted)
	}
	summary += " in " + output.FormatDuration(time.Since(ui.start))
	f.IO.Infof("%s", summary)
	if st.unfinished > 0 && s.journal != nil {
		f.IO.Infof("resume the running ones with: mlab wait --batch %s%s", s.batchID, resumeFlags(o))
	}
	switch {
	case ctx.Err() != nil:
		return quietExit(ExitInterrupted, ctx.Err())
	case st.timedOut > 0:
		return quietExit(ExitTimeout, job.ErrTimeout)
	case st.errors > 0:
		return quietExit(max(st.errorCode, ExitFailed), errors.New("some jobs could not be run"))
	case st.failed > 0:
		return quietExit(ExitFailed, errors.New("some jobs failed"))
	}
	return nil
}

func resumeFlags(o *JobOptions) string {
	s := ""
	if o.OutputDir != "" {
		s += " -o " + shellQuote(o.OutputDir)
	}
	if o.JSON {
		s += " --json"
	}
	return s
}

// printBatchResult prints one finished batch job: its result on stdout
// (paths/URLs, or one JSON object with the input line), problems on stderr.
func (s *session) printBatchResult(j *oneJob, res *output.Result, err error) {
	ios := s.f.IO
	if res == nil {
		res = &output.Result{Endpoint: j.ep.Name, Status: "error", Message: s.f.redact(err.Error())}
	}
	res.BatchID, res.Line = s.batchID, j.line
	if s.opts.JSON {
		output.PrintResult(ios, res, true)
	} else if err == nil {
		output.PrintResult(ios, res, false)
	} else if res.Status == "processing" {
		fmt.Fprintln(ios.Out, res.ID)
	}
	if err != nil {
		ios.Warnf("line %d: %s", j.line, s.f.redact(err.Error()))
	}
}

// batchUI counts jobs and draws one aggregate progress line on a terminal.
type batchUI struct {
	f     *Factory
	total int
	start time.Time

	mu       sync.Mutex
	st       batchStats
	progress *output.WaitProgress
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

type batchStats struct {
	started, inFlight                                  int
	succeeded, submitted, failed, timedOut, unfinished int
	errors, errorCode                                  int
}

// batchJobUI is one job's view of the batch display.
type batchJobUI struct {
	u       *batchUI
	waiting bool
}

func (j *batchJobUI) submitted(id string, eta float64, waitingFor string) {
	j.u.mu.Lock()
	j.waiting = true
	j.u.st.inFlight++
	j.u.mu.Unlock()
}

func (j *batchJobUI) update(job.Progress) {}

func newBatchUI(f *Factory, total int) *batchUI {
	u := &batchUI{f: f, total: total, start: time.Now(), progress: f.IO.NewWaitProgress("batch"), quit: make(chan struct{}), done: make(chan struct{})}
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
	finished := u.st.succeeded + u.st.submitted + u.st.failed + u.st.unfinished + u.st.errors
	elapsed := time.Since(u.start)
	var eta time.Duration
	if finished > 0 {
		eta = time.Duration(float64(elapsed) * float64(u.total) / float64(finished))
	}
	u.progress.Update(elapsed, eta, fmt.Sprintf("%d/%d done · %d failed · %d in flight", u.st.succeeded, u.total, u.st.failed+u.st.errors, u.st.inFlight))
}

// begin returns the display handle of a job that is about to start.
func (u *batchUI) begin() *batchJobUI {
	u.mu.Lock()
	u.st.started++
	u.mu.Unlock()
	return &batchJobUI{u: u}
}

// finished counts how a job ended.
func (u *batchUI) finished(j *batchJobUI, res *output.Result, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if j.waiting {
		u.st.inFlight--
	}
	var stopped *runner.StoppedError
	switch {
	case err == nil && res.Status == "success":
		u.st.succeeded++
	case err == nil:
		u.st.submitted++ // without --wait
	case errors.As(err, &stopped):
		u.st.unfinished++
		if errors.Is(err, job.ErrTimeout) {
			u.st.timedOut++
		}
	case res != nil && res.Status == "failed":
		u.st.failed++
	default:
		u.st.errors++
		u.st.errorCode = max(u.st.errorCode, exitCodeFor(err))
	}
}

func (u *batchUI) snapshot() batchStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

func (u *batchUI) stop() {
	u.stopOnce.Do(func() {
		close(u.quit)
		<-u.done
		u.progress.Done()
	})
}

// resumeBatch finishes a batch: it waits for the journalled jobs that are
// still running and submits the lines of the batch plan that a killed run
// never got to. Finished jobs are left alone.
func resumeBatch(ctx context.Context, o *WaitOptions) error {
	f := o.f
	jr, err := openHistoryJournal(f)
	if err != nil {
		return err
	}
	defer jr.Close()
	entries, err := jr.List(journal.Filter{BatchID: o.Batch})
	if err != nil {
		return fmt.Errorf("read the job journal: %w", err)
	}
	plan, planErr := readManifest(jr.Dir(), o.Batch)
	if len(entries) == 0 && planErr != nil {
		return flagErrorf("no jobs of batch %s in the journal (see 'mlab jobs --json')", o.Batch)
	}
	journalled := map[int]bool{}
	var waits []*oneJob
	base := ""
	for _, e := range entries {
		journalled[e.Line] = true
		base = e.BaseURL
		if e.Finished() {
			continue
		}
		r, err := o.fromEntry(jr, e)
		if err != nil {
			return err
		}
		waits = append(waits, &oneJob{ep: r.ep, trackID: e.TrackID, pathParams: e.PathParams, fetchURL: e.FetchURL, line: e.Line, resume: &e})
	}
	var submits []*oneJob
	if plan != nil {
		ep, ok := api.Lookup(plan.Endpoint)
		if !ok {
			return flagErrorf("batch %s used endpoint %q, which this mlab does not know", o.Batch, plan.Endpoint)
		}
		ep = ep.WithPathParams(plan.PathParams)
		for _, l := range plan.Lines {
			if journalled[l.Line] {
				continue
			}
			inputs, err := prepareBody(ep, l.Body)
			if err != nil {
				return flagErrorf("batch %s line %d: %v", o.Batch, l.Line, err)
			}
			submits = append(submits, &oneJob{ep: ep, body: l.Body, inputs: inputs, pathParams: plan.PathParams, line: l.Line})
		}
	}
	f.IO.Infof("batch %s: %d jobs journalled, %d unfinished, %d never submitted", o.Batch, len(entries), len(waits), len(submits))
	if len(waits)+len(submits) == 0 {
		return nil
	}
	jo := &JobOptions{Wait: true, OutputDir: o.OutputDir, JSON: o.JSON, Timeout: o.Timeout, PollInterval: o.PollInterval,
		Batch: o.Batch, Concurrency: o.Concurrency, TunnelWait: 15 * time.Second}
	var s *session
	if len(submits) > 0 {
		// New submits need the whole receiver (webhook + poll).
		if s, err = openSession(ctx, f, jo); err != nil {
			return err
		}
		defer s.close()
	} else {
		client, err := f.apiClientAt(base)
		if err != nil {
			return err
		}
		s = &session{f: f, opts: jo, client: client, baseURL: base, journal: jr}
	}
	s.batchID, s.quietDownloads = o.Batch, true
	return s.runMany(ctx, append(waits, submits...), o.Concurrency, func(ctx context.Context, j *oneJob, ui jobUI) (*output.Result, error) {
		e := j.resume
		if e == nil {
			return s.run(ctx, j, ui)
		}
		res := &output.Result{ID: e.ID, TrackID: e.TrackID, Endpoint: e.Endpoint, Status: e.Status}
		ui.submitted(e.ID, 0, "")
		res, err := s.wait(ctx, j, res, &api.Response{ID: e.ID, FetchURL: e.FetchURL}, nil, ui, time.Now())
		if res != nil {
			s.recordEnd(res)
		}
		return res, err
	})
}

// batchManifest is the plan of a batch, saved before the first submit so
// that 'mlab wait --batch' can also submit the lines a killed run never got
// to. Bodies are stored without the key.
type batchManifest struct {
	BatchID    string            `json:"batch_id"`
	Endpoint   string            `json:"endpoint"`
	PathParams map[string]string `json:"path_params,omitempty"`
	Lines      []manifestLine    `json:"lines"`
}

type manifestLine struct {
	Line int            `json:"line"`
	Body map[string]any `json:"body"`
}

func manifestPath(dir, batchID string) string {
	return filepath.Join(dir, "batches", batchID+".json")
}

func (s *session) writeManifest(r *jobRun, jobs []*oneJob) error {
	if s.journal == nil {
		return errors.New("no journal")
	}
	m := batchManifest{BatchID: s.batchID, Endpoint: r.ep.Name, PathParams: r.pathParams}
	for _, j := range jobs {
		body := maps.Clone(j.body)
		delete(body, "key")
		m.Lines = append(m.Lines, manifestLine{Line: j.line, Body: body})
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := manifestPath(s.journal.Dir(), s.batchID)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readManifest(dir, batchID string) (*batchManifest, error) {
	data, err := os.ReadFile(manifestPath(dir, batchID))
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m batchManifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("batch plan %s: %w", batchID, err)
	}
	return &m, nil
}
