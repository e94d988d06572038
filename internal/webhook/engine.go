package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mlabcli/mlab/internal/receiver"
)

// Buffer is the receiver's per-token queue for the listen engine
// (receiver.Options.Buffer): between the HTTP handlers and the pump that
// moves deliveries into the engine's own bounded queue.
const Buffer = 1024

// DefaultDrainBound is how long pending forwards may still run once
// listening stops.
const DefaultDrainBound = 3 * time.Second

// Options configures an [Engine].
type Options struct {
	Count          int           // stop after Count deliveries; 0: no limit
	Recorder       *Recorder     // nil: no record; the caller closes it
	ForwardTo      string        // the app's URL; "" forwards nothing
	ForwardTimeout time.Duration // how long the app may take per delivery
	DrainBound     time.Duration // how long pending forwards may run at the end; default DefaultDrainBound
	Observer       Observer      // required: what happens goes there

	forwardTransport http.RoundTripper // tests: the forwarder's transport
}

// Observer is told everything the engine does; the command renders it.
// Forwarded is called from the forward workers, concurrently with the
// other methods; the others are called from one goroutine, in order.
type Observer interface {
	// Delivered: a delivery, processed (after it was recorded).
	Delivered(p *Processed)
	// Rejected: a request the listener answered with an error status.
	Rejected(r Rejection)
	// Forwarded: the app's answer to a relayed delivery, or why none came.
	Forwarded(r ForwardResult)
	// ProcessFailed: a delivery that could not be processed (not shown).
	ProcessFailed(d Delivery, err error)
	// RecordFailed: the record file failed; nothing more is recorded.
	RecordFailed(err error)
	// ForwardSkipped: the forward queue was full; p was not relayed.
	ForwardSkipped(p *Processed)
	// Stopped: the run is over (once, last).
	Stopped(s Stats)
}

// Stats sums up a run.
type Stats struct {
	Deliveries   int  // processed (at most Count)
	Duplicates   int  // of those, duplicates
	Rejected     int  // requests answered with an error status
	CountReached bool // the run stopped after Count deliveries
	// Dropped deliveries were answered but never processed: the
	// receiver's queue or the engine's was full.
	Dropped uint64
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
	Stats() (accepted, rejected, dropped uint64)
}

// Engine runs one listen: it takes a registration's deliveries and the
// receiver's rejections through a bounded queue, processes them in order
// (dedupe, record, JSON line, forward) and reports to its Observer. An
// Engine runs once.
type Engine struct {
	o Options
	q *queue

	dd           Deduper
	stats        Stats
	countReached chan struct{}
	countOnce    sync.Once
}

// New returns an engine whose queue already takes rejections ([Engine.Reject]),
// so it can be wired into receiver.Options.OnReject before the receiver opens.
func New(o Options) *Engine {
	if o.DrainBound <= 0 {
		o.DrainBound = DefaultDrainBound
	}
	return &Engine{o: o, q: newQueue(maxQueuedEvents, maxQueuedBytes), countReached: make(chan struct{})}
}

// Reject queues a rejection; it never blocks (receiver.Options.OnReject).
func (e *Engine) Reject(r Rejection) { e.q.push(event{rej: &r}) }

// Run processes reg's deliveries until ctx ends, Count deliveries have been
// processed, or the receiver stops on its own (an error). Then it stops
// the receiver accepting, processes everything queued, lets pending
// forwards finish within DrainBound, closes the receiver and reports the
// Stats.
func (e *Engine) Run(ctx context.Context, rc Receiver, reg *receiver.Registration) error {
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		for d := range reg.Deliveries {
			e.q.push(event{d: d})
		}
		e.q.close()
	}()
	var fw *forwarder
	if e.o.ForwardTo != "" {
		fw = e.newForwarder(reg.URL)
	}
	procDone := make(chan struct{})
	go func() {
		defer close(procDone)
		e.process(fw)
	}()

	var runErr error
	reached := false
	select {
	case <-ctx.Done():
	case <-e.countReached:
		reached = true
	case <-rc.Stopped():
		runErr = fmt.Errorf("the webhook receiver stopped: %w", rc.Err())
	}

	// Teardown: stop accepting (in-flight requests finish and are queued),
	// close the token's channel, process everything queued, let pending
	// forwards finish within a bound, then close the tunnel.
	rc.Shutdown()
	reg.Unregister()
	<-pumpDone
	<-procDone
	st := e.stats
	st.CountReached = reached
	if fw != nil {
		st.Abandoned, st.DrainBound = fw.close(e.o.DrainBound), e.o.DrainBound
	}
	rc.Close()
	_, _, dropped := rc.Stats()
	st.Dropped = dropped + uint64(e.q.droppedCount())
	e.o.Observer.Stopped(st)
	return runErr
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

// process handles the queued events in arrival order until the queue is
// closed and empty.
func (e *Engine) process(fw *forwarder) {
	for {
		ev, ok := e.q.pop()
		if !ok {
			return
		}
		if ev.rej != nil {
			e.stats.Rejected++
			e.o.Observer.Rejected(*ev.rej)
			continue
		}
		if e.o.Count > 0 && e.stats.Deliveries >= e.o.Count {
			continue // past Count: answered, not shown
		}
		e.stats.Deliveries++
		e.handle(ev.d, fw)
		if e.o.Count > 0 && e.stats.Deliveries == e.o.Count {
			e.countOnce.Do(func() { close(e.countReached) })
		}
	}
}

func (e *Engine) handle(d Delivery, fw *forwarder) {
	obs := e.o.Observer
	p, err := Process(d, &e.dd)
	if err != nil {
		obs.ProcessFailed(d, err)
		return
	}
	if p.Duplicate {
		e.stats.Duplicates++
	}
	if e.o.Recorder != nil {
		if err := e.o.Recorder.Write(p.Line); err != nil {
			obs.RecordFailed(err)
			e.o.Recorder = nil
		}
	}
	obs.Delivered(p)
	if fw != nil && !fw.enqueue(d, p.Summary) {
		obs.ForwardSkipped(p)
	}
}
