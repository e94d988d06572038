package webhook

import (
	"context"
	"fmt"
	"sync"

	"github.com/mlabcli/mlab/internal/receiver"
)

// observer records every event; with a gate, Delivered waits for it (a
// terminal that has stopped dead).
type observer struct {
	gate chan struct{}

	mu        sync.Mutex
	delivered []*Processed
	rejected  []Rejection
	many      []RejectionSummary
	forwarded []ForwardResult
	problems  []string
	stats     []Stats
}

// add appends v to one of o's lists, under o's lock.
func add[T any](o *observer, list *[]T, v T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	*list = append(*list, v)
}

func (o *observer) Delivered(p *Processed) {
	if o.gate != nil {
		<-o.gate
	}
	add(o, &o.delivered, p)
}

func (o *observer) Rejected(r Rejection)                { add(o, &o.rejected, r) }
func (o *observer) RejectedMany(s RejectionSummary)     { add(o, &o.many, s) }
func (o *observer) Forwarded(r ForwardResult)           { add(o, &o.forwarded, r) }
func (o *observer) ProcessFailed(d Delivery, err error) { o.problem("process %s: %v", d.Body, err) }
func (o *observer) RecordFailed(err error)              { o.problem("record: %v", err) }
func (o *observer) Stopped(s Stats)                     { add(o, &o.stats, s) }

func (o *observer) problem(format string, a ...any) { add(o, &o.problems, fmt.Sprintf(format, a...)) }

// bodies lists the delivered bodies, in order.
func (o *observer) bodies() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, p := range o.delivered {
		out = append(out, string(p.Delivery.Body))
	}
	return out
}

// start runs e in the background; the returned function waits for Run.
func start(ctx context.Context, e *Engine, rc Receiver, reg *receiver.Registration) func() error {
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, rc, reg) }()
	return func() error { return <-done }
}
