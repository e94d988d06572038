package webhook

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// forwardWorkers is how many deliveries are relayed to the app at once: one
// slow request does not hold up the others.
const forwardWorkers = 4

// The forward queue's bounds: how many deliveries, and how many bytes of
// them, may wait for a worker. Past them the engine waits before taking
// the next delivery (and the listener answers 503 once its own queues are
// full), so a slow app costs at most this much memory and no delivery
// answered 200 goes unforwarded.
const (
	forwardQueue      = 1024
	forwardQueueBytes = 32 << 20
)

// closeGrace is how long close still waits for the workers once it has
// aborted their requests: a worker stuck in Report is not waited for.
const closeGrace = 100 * time.Millisecond

// ForwardResult is the outcome of relaying one delivery to the app.
type ForwardResult struct {
	Summary Summary // of the delivery relayed
	URL     string  // the app's URL
	Result
}

type forwardJob struct {
	d   Delivery
	sum Summary
}

// forwardConfig configures a forwarder.
type forwardConfig struct {
	URL       string
	Proto     string        // X-Forwarded-Proto: the scheme the sender used
	Timeout   time.Duration // per delivery
	Report    func(ForwardResult)
	Transport http.RoundTripper // nil: a clone of http.DefaultTransport without proxy
}

// forwarder relays deliveries to the user's app from a queue, with a
// bounded pool of workers, so the sender is answered without waiting for
// the app.
type forwarder struct {
	cfg    forwardConfig
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	jobs   *fifo[forwardJob]
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending int // queued or being relayed
}

func newForwarder(cfg forwardConfig) *forwarder {
	rt := cfg.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = forwardWorkers
		tr.Proxy = nil // the app is the user's own, usually on localhost
		rt = tr
	}
	ctx, cancel := context.WithCancel(context.Background())
	fw := &forwarder{
		cfg:    cfg,
		client: newClient(rt, 0), // each request has its own deadline
		ctx:    ctx,
		cancel: cancel,
		jobs:   newFIFO(forwardQueue, forwardQueueBytes, func(j forwardJob) int { return queuedSize(j.d) }),
	}
	for range forwardWorkers {
		fw.wg.Add(1)
		go fw.work()
	}
	return fw
}

// enqueue queues d, waiting while the queue is full; false once the
// forwarder is closed (close counts d as abandoned).
func (fw *forwarder) enqueue(d Delivery, sum Summary) bool {
	if !fw.jobs.push(forwardJob{d: d, sum: sum}) {
		return false
	}
	fw.mu.Lock()
	fw.pending++
	fw.mu.Unlock()
	return true
}

func (fw *forwarder) work() {
	defer fw.wg.Done()
	for {
		j, ok := fw.jobs.pop()
		if !ok {
			return
		}
		res := fw.send(j)
		fw.mu.Lock()
		fw.pending--
		fw.mu.Unlock()
		fw.cfg.Report(res)
	}
}

func (fw *forwarder) send(j forwardJob) ForwardResult {
	ctx, cancel := context.WithTimeout(fw.ctx, fw.cfg.Timeout)
	defer cancel()
	res := Send(ctx, fw.client, Request{
		URL:    fw.cfg.URL,
		Header: j.d.Header,
		Body:   j.d.Body,
		Relay:  &Relay{RemoteAddr: j.d.RemoteAddr, Proto: fw.cfg.Proto},
	})
	return ForwardResult{Summary: j.sum, URL: fw.cfg.URL, Result: res}
}

// close stops taking deliveries and waits up to bound for the queued ones
// to be relayed; then it aborts what is left and reports how many were not
// forwarded (an enqueue still waiting for room included).
func (fw *forwarder) close(bound time.Duration) (abandoned int) {
	abandoned = fw.jobs.close()
	done := make(chan struct{})
	go func() { fw.wg.Wait(); close(done) }()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		fw.mu.Lock()
		abandoned += fw.pending
		fw.mu.Unlock()
		fw.cancel()
		waitAtMost(done, closeGrace)
	}
	fw.cancel()
	fw.client.CloseIdleConnections()
	return abandoned
}
