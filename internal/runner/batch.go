package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/api"
	"github.com/mlabcli/mlab/internal/journal"
)

// BatchRetry is the client option a batch's API client needs: against a
// queue limit, a 429 slows the batch down (retry_after is honoured each
// time) instead of failing its jobs.
func BatchRetry() api.Option { return api.WithRetry(1000, time.Minute) }

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
	Errors     int // could not be run or finished: submit refused, API or network errors, downloads
	Elapsed    time.Duration
}

// Ended is the number of jobs the batch is done with.
func (t Totals) Ended() int { return t.Succeeded + t.Submitted + t.Failed + t.Unfinished + t.Errors }

// BatchObserver is an Observer that also hears a batch's running totals.
type BatchObserver interface {
	Observer
	// Totals is called whenever they change, in order; keep it short.
	Totals(Totals)
}

// SavePlan writes the batch plan (Options.BatchID, jobs' lines and bodies)
// to the journal before the first submit, so that a resume can also submit
// the lines a killed run never got to. The jobs share one endpoint.
func (r *Runner) SavePlan(jobs []*Job) error {
	if r.o.Journal == nil {
		return errors.New("no journal")
	}
	if len(jobs) == 0 {
		return errors.New("no jobs")
	}
	p := journal.Plan{BatchID: r.o.BatchID, Endpoint: jobs[0].Endpoint.Name, PathParams: jobs[0].PathParams}
	for _, j := range jobs {
		p.Lines = append(p.Lines, journal.PlanLine{Line: j.Line, Body: j.Body})
	}
	return r.o.Journal.SavePlan(p)
}

// Batch runs jobs (new or journalled, see Run) with at most concurrency in
// flight, each with its own webhook token on the one receiver. Each outcome carries Options.BatchID and its
// line, and is handed to obs.Finished as soon as the job ends. When ctx
// ends no further job is started. Batch returns the final totals and the
// errors of the jobs counted in Totals.Errors, in the order they ended.
func (r *Runner) Batch(ctx context.Context, jobs []*Job, concurrency int, obs BatchObserver) (Totals, []error) {
	b := &batch{obs: obs, start: r.o.Now(), now: r.o.Now, t: Totals{Jobs: len(jobs)}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(concurrency, 1))
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break // stop starting jobs; running ones see the cancel too
		}
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
			b.finished(j, bo, o, err)
		}()
	}
	wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Elapsed = r.since(b.start)
	return b.t, b.errs
}

// batch is one Batch call's shared state.
type batch struct {
	obs   BatchObserver
	start time.Time
	now   func() time.Time

	mu   sync.Mutex
	t    Totals
	errs []error

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
		var stopped *StoppedError
		switch {
		case err == nil && o.Status == StatusSuccess:
			t.Succeeded++
		case err == nil:
			t.Submitted++
		case errors.As(err, &stopped):
			t.Unfinished++
			if errors.Is(err, ErrTimeout) {
				t.TimedOut++
			}
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
