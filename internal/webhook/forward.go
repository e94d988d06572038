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

// forwardQueue is how many deliveries may wait for a worker; past it a
// delivery is reported and not forwarded (it was still answered and shown).
const forwardQueue = 1024

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
	jobs   chan forwardJob
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	pending int
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
		jobs:   make(chan forwardJob, forwardQueue),
	}
	for range forwardWorkers {
		fw.wg.Add(1)
		go fw.work()
	}
	return fw
}

// enqueue queues d without ever blocking; false when the queue is full or
// closed.
func (fw *forwarder) enqueue(d Delivery, sum Summary) bool {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.closed {
		return false
	}
	select {
	case fw.jobs <- forwardJob{d: d, sum: sum}:
		fw.pending++
		return true
	default:
		return false
	}
}

func (fw *forwarder) work() {
	defer fw.wg.Done()
	for j := range fw.jobs {
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
// forwarded.
func (fw *forwarder) close(bound time.Duration) (abandoned int) {
	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		return 0
	}
	fw.closed = true
	close(fw.jobs)
	fw.mu.Unlock()
	done := make(chan struct{})
	go func() { fw.wg.Wait(); close(done) }()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		fw.mu.Lock()
		abandoned = fw.pending
		fw.mu.Unlock()
		fw.cancel()
		<-done
	}
	fw.cancel()
	fw.client.CloseIdleConnections()
	return abandoned
}
