package webhook

import "sync"

// fifo is a queue bounded in items and in bytes. push waits while it is
// full: back-pressure, so whoever feeds it stops taking more (the pump
// stops draining the token's channel, and the listener answers 503 instead
// of 200). pop waits while it is empty. An item larger than the byte bound
// is still taken when the queue is empty, so nothing is too big to pass.
type fifo[T any] struct {
	maxItems, maxBytes int
	size               func(T) int

	mu       sync.Mutex
	notEmpty sync.Cond
	notFull  sync.Cond
	items    []T
	bytes    int
	waiting  int  // pushers inside push, waiting for room
	closed   bool // push refuses; pop drains what is queued, then reports false
}

func newFIFO[T any](maxItems, maxBytes int, size func(T) int) *fifo[T] {
	q := &fifo[T]{maxItems: maxItems, maxBytes: maxBytes, size: size}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	return q
}

// full reports whether an item of n bytes must wait (q.mu held).
func (q *fifo[T]) full(n int) bool {
	if len(q.items) == 0 {
		return false
	}
	return len(q.items) >= q.maxItems || q.bytes+n > q.maxBytes
}

// push queues v, waiting for room; false once the queue is closed (v is
// not queued).
func (q *fifo[T]) push(v T) bool {
	n := q.size(v)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting++
	for !q.closed && q.full(n) {
		q.notFull.Wait()
	}
	q.waiting--
	if q.closed {
		return false
	}
	q.items = append(q.items, v)
	q.bytes += n
	q.notEmpty.Signal()
	return true
}

// pop takes the oldest item, waiting for one; false once the queue is
// closed and empty.
func (q *fifo[T]) pop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.notEmpty.Wait()
	}
	var zero T
	if len(q.items) == 0 {
		return zero, false
	}
	v := q.items[0]
	q.items[0] = zero
	q.items = q.items[1:]
	q.bytes -= q.size(v)
	q.notFull.Broadcast() // pushers of any size may fit now
	return v, true
}

// close makes push refuse from now on; pop still drains what is queued.
// It returns how many pushers were waiting for room: each of them now gets
// false. Closing twice returns 0.
func (q *fifo[T]) close() (refused int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	q.closed = true
	q.notEmpty.Broadcast()
	q.notFull.Broadcast()
	return q.waiting
}

// discard closes the queue and drops what is in it; it returns how many
// items were dropped or refused to waiting pushers.
func (q *fifo[T]) discard() int {
	refused := q.close()
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	clear(q.items)
	q.items, q.bytes = nil, 0
	return refused + n
}

// len is how many items are queued.
func (q *fifo[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
