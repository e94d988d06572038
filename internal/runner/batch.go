package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
)

// Totals count a batch's jobs by how they stand.
type Totals struct {
	Jobs       int // in the batch
	Started    int // handed to a worker; the rest were never started (interrupted)
	InFlight   int // submitted and being waited for now
	Succeeded  int
	Submitted  int // submitted and not waited for (Options.Wait off)
	Failed     int // the API said failed
	Unfinished int // the wait stopped (timeout, interrupt): still running at ModelsLab
	TimedOut   int // of Unfinished, stopped by the timeout
	Unknown    int // submits sent and never answered: they may have made jobs (SubmitUnknownError)
	Errors     int // could not be run or finished: submit refused, API or network errors, downloads
	// Unreachable says the batch stopped starting jobs because the API
	// could not be reached (a submit failed with a network error after
	// its retries): the lines not started were never sent.
	Unreachable bool
	Elapsed     time.Duration

	// Set only in the Totals that Batch returns: the ids of the jobs still
	// running (Unfinished), the lines never started and the track ids of
	// the Unknown submits, for the hint that resumes the batch.
	RunningIDs      []string
	NotStartedLines []int
	UnknownTrackIDs []string
}

// Ended is the number of jobs the batch is done with.
func (t Totals) Ended() int {
	return t.Succeeded + t.Submitted + t.Failed + t.Unfinished + t.Unknown + t.Errors
}

// BatchObserver is an Observer that also hears a batch's running totals.
type BatchObserver interface {
	Observer
	// Totals is called whenever they change, in order; keep it short.
	Totals(Totals)
}

// SavePlan gives each job its track_id (if it has none) and writes the
// batch plan (Options.BatchID, the API, the jobs' lines, track ids and
// bodies) to the journal before the first submit, so that a resume can
// tell the lines that were sent from those a killed run never got to. The
// jobs share one endpoint.
func (r *Runner) SavePlan(jobs []*Job) error {
	if r.o.Journal == nil {
		return errors.New("no journal")
	}
	if len(jobs) == 0 {
		return errors.New("no jobs")
	}
	p := journal.Plan{BatchID: r.o.BatchID, Endpoint: jobs[0].Endpoint.Name, BaseURL: r.journalBase(), PathParams: jobs[0].PathParams}
	for _, j := range jobs {
		if j.TrackID == "" {
			j.TrackID = r.o.NewTrackID()
		}
		p.Lines = append(p.Lines, journal.PlanLine{Line: j.Line, TrackID: j.TrackID, Body: j.Body})
	}
	return r.o.Journal.SavePlan(p)
}

// Batch runs jobs (new or journalled, see Run) with at most concurrency in
// flight, each with its own webhook token on the one receiver. Each
// outcome carries Options.BatchID and its line, and is handed to
// obs.Finished as soon as the job ends. When ctx ends, or a submit finds
// the API unreachable (after the client's retries, as a single job would),
// no further job is started. Batch returns the final totals and the errors
// of the jobs counted in Totals.Errors, in the order they ended.
func (r *Runner) Batch(ctx context.Context, jobs []*Job, concurrency int, obs BatchObserver) (Totals, []error) {
	b := &batch{obs: obs, start: r.o.Now(), now: r.o.Now, t: Totals{Jobs: len(jobs)}}
	startCtx, stopStarting := context.WithCancel(ctx)
	defer stopStarting()
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(concurrency, 1))
	started := 0
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-startCtx.Done():
		}
		if startCtx.Err() != nil {
			break // stop starting jobs; running ones see a cancel too
		}
		started++
		b.update(func(t *Totals) { t.Started++ })
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			bo := &batchJob{Observer: obs, b: b}
			o, err := r.do(ctx, j, bo, false)
			if o != nil {
				o.BatchID, o.Line = r.o.BatchID, j.Line
			}
			if o == nil && api.IsKind(err, api.KindNetwork) && !errors.As(err, new(*SubmitUnknownError)) {
				b.update(func(t *Totals) { t.Unreachable = true })
				stopStarting()
			}
			b.finished(j, bo, o, err)
		}()
	}
	wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.t
	t.Elapsed = r.since(b.start)
	t.RunningIDs, t.UnknownTrackIDs = b.running, b.unknown
	for _, j := range jobs[started:] {
		t.NotStartedLines = append(t.NotStartedLines, j.Line)
	}
	return t, b.errs
}

// batch is one Batch call's shared state.
type batch struct {
	obs   BatchObserver
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	t       Totals
	errs    []error
	running []string // ids of the jobs whose wait stopped
	unknown []string // track ids of the submits never answered

	finishMu sync.Mutex // Finished calls never overlap
}

// update changes the totals and reports them.
func (b *batch) update(fn func(*Totals)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fn(&b.t)
	b.t.Elapsed = b.now().Sub(b.start)
	b.obs.Totals(b.t)
}

// finished counts how a job ended, then hands it to the observer.
func (b *batch) finished(j *Job, bo *batchJob, o *Outcome, err error) {
	b.update(func(t *Totals) {
		if bo.waiting {
			t.InFlight--
		}
		var (
			stopped *StoppedError
			unknown *SubmitUnknownError
		)
		switch {
		case err == nil && o.Status == StatusSuccess:
			t.Succeeded++
		case err == nil:
			t.Submitted++
		case errors.As(err, &stopped):
			t.Unfinished++
			b.running = append(b.running, stopped.ID)
			if errors.Is(err, ErrTimeout) {
				t.TimedOut++
			}
		case errors.As(err, &unknown):
			t.Unknown++
			b.unknown = append(b.unknown, unknown.TrackID)
		case o != nil && o.Status == StatusFailed:
			t.Failed++
		default:
			t.Errors++
			b.errs = append(b.errs, err)
		}
	})
	b.finishMu.Lock()
	defer b.finishMu.Unlock()
	b.obs.Finished(j, o, err)
}

// batchJob is one job's observer inside a batch: it counts the job in
// flight once it is submitted and being waited for.
type batchJob struct {
	Observer
	b       *batch
	waiting bool // set by Submitted, read by finished on the same goroutine
}

func (bo *batchJob) Submitted(j *Job, eta float64, waitingFor string) {
	bo.waiting = true
	bo.b.update(func(t *Totals) { t.InFlight++ })
	bo.Observer.Submitted(j, eta, waitingFor)
}
