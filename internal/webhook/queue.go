package webhook

import "sync"

// event is what the listener reports: a delivery or a rejection.
type event struct {
	d   Delivery
	rej *Rejection
}

// queue is a FIFO the HTTP side pushes to without ever waiting, whatever
// the consumer (a slow terminal, a slow disk) is doing. It holds up to
// maxEvents events and maxBytes of bodies; past that, events are dropped
// (the deliveries were still answered) and counted.
type queue struct {
	maxEvents, maxBytes int

	mu      sync.Mutex
	cond    *sync.Cond
	items   []event
	bytes   int
	dropped int
	closed  bool
}

// The engine's queue bounds.
const (
	maxQueuedEvents = 100_000
	maxQueuedBytes  = 512 << 20
)

func newQueue(maxEvents, maxBytes int) *queue {
	q := &queue{maxEvents: maxEvents, maxBytes: maxBytes}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues ev, or counts it as dropped when the queue is full; after
// close it is ignored.
func (q *queue) push(ev event) {
	q.mu.Lock()
	switch {
	case q.closed:
	case len(q.items) >= q.maxEvents || q.bytes+len(ev.d.Body) > q.maxBytes:
		q.dropped++
	default:
		q.items = append(q.items, ev)
		q.bytes += len(ev.d.Body)
	}
	q.mu.Unlock()
	q.cond.Signal()
}

// close ends the queue: pop drains what is queued, then reports false.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// pop blocks until an event is queued; false once closed and empty.
func (q *queue) pop() (event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.items) == 0 {
		return event{}, false
	}
	ev := q.items[0]
	q.items[0] = event{}
	q.items = q.items[1:]
	q.bytes -= len(ev.d.Body)
	return ev, true
}

// droppedCount is how many events push has dropped.
func (q *queue) droppedCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
