package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
)

// Buffer is the receiver's per-token queue for the listen engine
// (receiver.Options.Buffer): between the HTTP handlers and the pump that
// moves deliveries into the engine's own queue. When the engine cannot
// take more, the pump stops draining it, and once it is full the listener
// answers 503 (the sender may retry) instead of 200.
const Buffer = 256

// DefaultDrainBound is how long pending forwards may still run once
// listening stops.
const DefaultDrainBound = 3 * time.Second

// DefaultStopBound is how long, at the stop, the deliveries already queued
// may still be processed (recorded, shown, forwarded); stopIdle ends it
// sooner when processing is stuck (a terminal that reads nothing).
const DefaultStopBound = 1500 * time.Millisecond

// stopIdle: a stop that sees no delivery processed for this long gives up
// on the rest.
const stopIdle = 250 * time.Millisecond

// The engine's queue bounds: past them the pump waits (back-pressure).
const (
	maxQueuedDeliveries = 10_000
	maxQueuedBytes      = 64 << 20
)

// queuedSize is what a delivery costs in the queues: its body, and a
// little for its headers and the rest.
func queuedSize(d Delivery) int { return len(d.Body) + len(d.Path) + 512 }

// Options configures an [Engine].
type Options struct {
	Count          int           // stop after Count deliveries; 0: no limit
	Recorder       *Recorder     // nil: no record; the caller closes it
	ForwardTo      string        // the app's URL; "" forwards nothing
	ForwardTimeout time.Duration // how long the app may take per delivery
	DrainBound     time.Duration // how long pending forwards may run at the end; default DefaultDrainBound
	StopBound      time.Duration // how long queued deliveries may still be processed at the end; default DefaultStopBound
	Observer       Observer      // required: what happens goes there

	forwardTransport http.RoundTripper // tests: the forwarder's transport
}

// Observer is told everything the engine does; the command renders it.
// Delivered, ProcessFailed and RecordFailed are called from the processing
// goroutine, in order; Rejected and RejectedMany from the rejection
// reporter; Forwarded from the forward workers: all concurrently with each
// other. Stopped comes last, once — though a call the stop bound gave up
// waiting for (a terminal that reads nothing) may still be running.
type Observer interface {
	// Delivered: a delivery, processed (after it was recorded). A slow
	// Delivered slows the engine down, and the listener answers 503 once
	// its queues are full: nothing answered 200 is dropped.
	Delivered(p *Processed)
	// Rejected: one request the listener answered with an error status
	// (never a 503); its Path and Method are clipped ([Clip]).
	Rejected(r Rejection)
	// RejectedMany: the rejections not reported one by one.
	RejectedMany(s RejectionSummary)
	// Forwarded: the app's answer to a relayed delivery, or why none came.
	Forwarded(r ForwardResult)
	// ProcessFailed: a delivery that could not be processed (not shown).
	ProcessFailed(d Delivery, err error)
	// RecordFailed: the record file failed; nothing more is recorded.
	RecordFailed(err error)
	// Stopped: the run is over (once, last).
	Stopped(s Stats)
}

// Stats sums up a run.
type Stats struct {
	Deliveries int // processed (at most Count)
	Duplicates int // of those, duplicates
	Rejected   int // requests answered with an error status, Busy included
	// Busy deliveries were refused with 503 because the queues were full;
	// the sender may retry them. None was answered 200.
	Busy int
	// PastCount deliveries arrived after Count was reached: answered 200,
	// neither shown nor recorded.
	PastCount int
	// Unprocessed deliveries were answered 200 but still queued when the
	// stop bound ran out: neither shown, recorded nor forwarded.
	Unprocessed  int
	CountReached bool // the run stopped after Count deliveries
	// Abandoned forwards were still pending when DrainBound ran out.
	Abandoned  int
	DrainBound time.Duration
}

// Receiver is what the engine needs of the webhook receiver
// (*receiver.Receiver).
type Receiver interface {
	Stopped() <-chan struct{} // closed when the listener stops serving
	Err() error               // why it stopped
	Shutdown()                // stop accepting; in-flight requests finish
	Close()                   // shut down and close the tunnel
}

// Engine runs one listen: it takes a registration's deliveries through a
// bounded queue, processes them in order (dedupe, record, JSON line,
// forward) and reports them, and the receiver's rejections, to its
// Observer. An Engine runs once.
type Engine struct {
	o   Options
	q   *fifo[Delivery]
	rej *rejections

	dd           Deduper // the processing goroutine's
	progress     atomic.Int64
	countReached chan struct{}
	countOnce    sync.Once

	mu    sync.Mutex
	stats Stats // Deliveries, Duplicates, PastCount: the processing goroutine's
}

// New returns an engine that already takes rejections ([Engine.Reject]),
// so it can be wired into receiver.Options.OnReject before the receiver opens.
func New(o Options) *Engine {
	if o.DrainBound <= 0 {
		o.DrainBound = DefaultDrainBound
	}
	if o.StopBound <= 0 {
		o.StopBound = DefaultStopBound
	}
	return &Engine{
		o:            o,
		q:            newFIFO(maxQueuedDeliveries, maxQueuedBytes, queuedSize),
		rej:          newRejections(),
		countReached: make(chan struct{}),
	}
}

// Reject takes a rejection; it never blocks (receiver.Options.OnReject).
func (e *Engine) Reject(r Rejection) { e.rej.add(r) }

// Run processes reg's deliveries until ctx ends, Count deliveries have been
// processed, or the receiver stops on its own (an error). Then it stops
// the receiver accepting, processes what is queued (within StopBound),
// lets pending forwards finish within DrainBound, closes the receiver and
// reports the Stats. Nothing the Observer does can keep it from returning.
func (e *Engine) Run(ctx context.Context, rc Receiver, reg *receiver.Registration) error {
	var fw *forwarder
	if e.o.ForwardTo != "" {
		fw = e.newForwarder(reg.URL)
	}
	refused := make(chan int, 1)
	go func() { refused <- e.pump(reg.Deliveries) }()
	procDone := make(chan struct{})
	go func() {
		defer close(procDone)
		e.process(fw)
	}()
	stopReports, reported := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(reported)
		e.rej.report(e.o.Observer, stopReports)
	}()

	runErr, reached := e.wait(ctx, rc)

	// Teardown: stop accepting (in-flight requests finish and are queued),
	// close the token's channel, process what is queued while that goes
	// on, report the last rejections, let pending forwards finish within a
	// bound, then close the tunnel.
	rc.Shutdown()
	reg.Unregister()
	unprocessed := e.drain(procDone, refused)
	close(stopReports)
	waitAtMost(reported, stopIdle)
	st := e.snapshot()
	st.CountReached, st.Unprocessed = reached, unprocessed
	st.Rejected, st.Busy = e.rej.counts()
	if fw != nil {
		st.Abandoned, st.DrainBound = fw.close(e.o.DrainBound), e.o.DrainBound
	}
	rc.Close()
	e.o.Observer.Stopped(st)
	return runErr
}

// wait blocks until the run should stop: ctx ended, Count was reached
// (reached), or the receiver stopped on its own (an error).
func (e *Engine) wait(ctx context.Context, rc Receiver) (err error, reached bool) {
	select {
	case <-ctx.Done():
	case <-e.countReached:
		reached = true
	case <-rc.Stopped():
		err = fmt.Errorf("the webhook receiver stopped: %w", rc.Err())
	}
	return err, reached
}

// pump moves the token's deliveries into the queue, waiting while it is
// full, until the channel is closed; then it closes the queue. It returns
// how many deliveries the queue refused (it was discarded at the stop).
func (e *Engine) pump(in <-chan Delivery) (refused int) {
	for d := range in {
		if !e.q.push(d) {
			refused++
		}
	}
	e.q.close()
	return refused
}

// drain waits for the processing goroutine to finish what is queued, as
// long as it makes progress and within StopBound; then it discards what is
// left. It returns how many deliveries were not processed.
func (e *Engine) drain(procDone <-chan struct{}, refused <-chan int) int {
	deadline := time.NewTimer(e.o.StopBound)
	defer deadline.Stop()
	idle := time.NewTicker(stopIdle)
	defer idle.Stop()
	last := e.progress.Load()
	for {
		select {
		case <-procDone:
			return <-refused
		case <-idle.C:
			if p := e.progress.Load(); p != last {
				last = p
				continue
			}
		case <-deadline.C:
		}
		n := e.q.discard()
		return n + <-refused
	}
}

// waitAtMost waits for done, or for d.
func waitAtMost(done <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func (e *Engine) snapshot() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// newForwarder relays to the app; X-Forwarded-Proto is the scheme of the
// webhook URL the sender used.
func (e *Engine) newForwarder(hookURL string) *forwarder {
	proto := "http"
	if strings.HasPrefix(hookURL, "https:") {
		proto = "https"
	}
	return newForwarder(forwardConfig{
		URL:       e.o.ForwardTo,
		Proto:     proto,
		Timeout:   e.o.ForwardTimeout,
		Report:    e.o.Observer.Forwarded,
		Transport: e.o.forwardTransport,
	})
}

// process handles the queued deliveries in arrival order until the queue
// is closed and empty.
func (e *Engine) process(fw *forwarder) {
	for {
		d, ok := e.q.pop()
		if !ok {
			return
		}
		if ok, last := e.take(); ok {
			e.handle(d, fw)
			if last {
				e.countOnce.Do(func() { close(e.countReached) })
			}
		}
		e.progress.Add(1)
	}
}

// take counts a delivery as processed, last when it is the Count-th; not
// ok past Count (it was answered, and is only counted).
func (e *Engine) take() (ok, last bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.o.Count > 0 && e.stats.Deliveries >= e.o.Count {
		e.stats.PastCount++
		return false, false
	}
	e.stats.Deliveries++
	return true, e.o.Count > 0 && e.stats.Deliveries == e.o.Count
}

// handle processes one delivery: its line, the record, the observer, then
// the forward (which waits while the forward queue is full).
func (e *Engine) handle(d Delivery, fw *forwarder) {
	obs := e.o.Observer
	p, err := Process(d, &e.dd)
	if err != nil {
		obs.ProcessFailed(d, err)
		return
	}
	if p.Duplicate {
		e.mu.Lock()
		e.stats.Duplicates++
		e.mu.Unlock()
	}
	if e.o.Recorder != nil {
		if err := e.o.Recorder.Write(p.Line); err != nil {
			obs.RecordFailed(err)
			e.o.Recorder = nil
		}
	}
	obs.Delivered(p)
	if fw != nil {
		fw.enqueue(d, p.Summary) // false only once stopping: counted as abandoned
	}
}
